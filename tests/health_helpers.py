"""Real components for the health tests: stub app servers with in-process agents, a real
haproxy on loopback, its stats socket, and a bounded load generator."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lbguard.health.agent import Agent
from lbguard.health.overload import OverloadMonitor

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_pair() -> int:
    """A port p with p+1 also free: the agent-check port and its /readyz port."""
    for _ in range(50):
        p = free_port()
        if p >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no pair of free ports")


class LoopThread:
    """One asyncio loop in a daemon thread; coroutines are submitted to it and awaited."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class Backend:
    """A stub app server: `workers` requests at once, each taking `latency` s, then `status`.

    Requests beyond the workers wait for one, which is how a real server queues: its
    in-flight count and latency climb together. The monitor sees every request, as the
    middleware would, and an agent answers for it.
    """

    name: str
    monitor: OverloadMonitor
    latency: float = 0.005
    status: int = 200
    workers: int = 4
    port: int = 0
    agent_port: int = 0
    agent: Agent | None = None
    served: Counter[str] = field(default_factory=Counter)

    async def start(self) -> None:
        self._sem = asyncio.Semaphore(self.workers)
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self.agent = Agent(self.monitor, agent_port=self.agent_port or free_pair(), tick=0.2)
        await self.agent.start()
        self.agent_port = self.agent.agent_port

    async def stop(self) -> None:
        self._server.close()
        if self.agent is not None:
            await self.agent.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()
            return
        started = self.monitor.request_started()
        status = self.status
        try:
            async with self._sem:
                await asyncio.sleep(self.latency)
            body = self.name.encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nX-Lbguard-Server: {self.name}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            self.served[str(status)] += 1
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            self.monitor.request_finished(started, status)
            writer.close()


def haproxy_config(sock: str, timeout: str, proxies: str) -> str:
    """A loopback config: an admin stats socket, HTTP defaults, then `proxies`."""
    return f"""global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 2s
    timeout client {timeout}
    timeout server {timeout}
{proxies}"""


class HAProxy:
    """The real haproxy on a generated config; killed with its process group on exit."""

    def __init__(self, exe: str, text: str, tmp: Path) -> None:
        self.cfg = tmp / "haproxy.cfg"
        self.cfg.write_text(text)
        self.log = tmp / "haproxy.log"
        self.exe = exe
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, port: int) -> None:
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [self.exe, "-db", "-f", str(self.cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("haproxy did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def runtime(sock: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode()


def show_stat(sock: str, backend: str) -> dict[str, dict[str, str]]:
    text = runtime(sock, "show stat")
    rows = csv.DictReader(io.StringIO(text[2:]))
    return {r["svname"]: r for r in rows if r["pxname"] == backend and r["svname"] != "BACKEND"}


def wait_for(cond: Callable[[], T], timeout: float, every: float = 0.1) -> T:
    """Poll until `cond()` is truthy; its last value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    value = cond()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        time.sleep(every)
        value = cond()
    return value


@dataclass
class Load:
    """Closed-loop clients through the balancer, bounded in time and count."""

    port: int
    clients: int = 6
    max_requests: int = 20_000
    counts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    sent: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> Load:
        for i in range(self.clients):
            t = threading.Thread(target=self._client, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _client(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            with self._lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
            n += 1
            source = f"127.0.{i + 1}.{n % 250 + 1}"
            who = None
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.port), timeout=10, source_address=(source, 0)
                ) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    data = b""
                    while chunk := s.recv(4096):
                        data += chunk
                for line in data.split(b"\r\n"):
                    if line.lower().startswith(b"x-lbguard-server:"):
                        who = line.split(b":", 1)[1].strip().decode()
            except OSError:
                who = None
            with self._lock:
                if who is None:
                    self.errors += 1
                else:
                    self.counts[who] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.counts)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)


def shares(before: Counter[str], after: Counter[str]) -> dict[str, float]:
    delta = after - before
    total = sum(delta.values()) or 1
    return {k: v / total for k, v in delta.items()}
