"""Real balancers, real backends and bounded loopback load for the `lbguard watch` tests.

Everything binds to 127.0.0.0/8 and is torn down by the context managers, whatever
the test does. The load generator is bounded in requests and in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.sandbox.haproxy_box import free_port
from lbguard.sandbox.run import _request, stop_group
from lbguard.sandbox.stubs import StubFarm, StubServer
from lbguard.simulate.traffic import Request

SERVERS = ("web-01", "web-02", "web-03")


def haproxy_config(
    tmp: Path, port: int, stubs: dict[str, int], backup: tuple[str, ...] = ()
) -> str:
    lines = [
        "global",
        f"    stats socket {tmp}/admin.sock mode 600 level admin",
        "    nbthread 1",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 10s",
        "    timeout server 10s",
        "frontend www",
        f"    bind 127.0.0.1:{port}",
        "    default_backend app",
        "backend app",
        "    balance roundrobin",
    ]
    for name, stub_port in stubs.items():
        flag = " backup" if name in backup else ""
        lines.append(f"    server {name} 127.0.0.1:{stub_port}{flag}")
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Load:
    """A background client: about `rate` requests/s, from varied 127.x.y.z sources."""

    port: int
    rate: float = 150.0
    max_requests: int = 20_000
    max_seconds: float = 60.0
    jitter: float = 0.0  # 0..1: how much the rate wanders, for a noisy balanced run
    sent: int = 0
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="watch-load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        rng = random.Random(11)
        started = time.monotonic()
        while not self._stop.is_set() and self.sent < self.max_requests:
            if time.monotonic() - started > self.max_seconds:
                return
            client = f"10.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}"
            source = "127." + client.split(".", 1)[1]
            try:
                _request(self.port, Request(source, "/"), 5.0)
            except OSError:
                self.failed += 1
            self.sent += 1
            rate = self.rate * (1 + self.jitter * (rng.random() * 2 - 1))
            self._stop.wait(1.0 / max(rate, 1.0))


@dataclass
class Haproxy:
    tmp: Path
    port: int
    stubs: dict[str, int]
    proc: subprocess.Popen[bytes]
    cfg: Path

    @property
    def socket(self) -> str:
        return str(self.tmp / "admin.sock")

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(line.encode() + b"\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode()

    def _pid(self) -> str:
        info = self.command("show info")
        return next((x.split(":")[1].strip() for x in info.splitlines() if x.startswith("Pid")), "")

    def reload(self, backup: tuple[str, ...] = ()) -> None:
        """Rewrite the config and reload the master; returns once the new worker answers."""
        write_atomic(self.cfg, haproxy_config(self.tmp, self.port, self.stubs, backup))
        old_pid = "?"  # no socket to ask: any worker that answers is the new one
        with contextlib.suppress(OSError):
            old_pid = self._pid()
        os.kill(self.proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                pid = self._pid()
                if pid and pid != old_pid:
                    return
            time.sleep(0.05)
        raise AssertionError("haproxy did not reload within 15 s")


@contextlib.contextmanager
def running_haproxy(
    exe: str, tmp: Path, backup: tuple[str, ...] = (), stub_latency: float = 0.0
) -> Iterator[Haproxy]:
    """haproxy in master-worker mode (-W) in front of three stub backends, on loopback."""
    stubs = {name: free_port() for name in SERVERS}
    farm = StubFarm([StubServer(f"app/{n}", p, stub_latency) for n, p in stubs.items()])
    port = free_port()
    cfg = tmp / "haproxy.cfg"
    write_atomic(cfg, haproxy_config(tmp, port, stubs, backup))
    proc = subprocess.Popen(
        [exe, "-W", "-db", "-f", str(cfg)],
        cwd=tmp,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    farm.start()
    try:
        deadline = time.monotonic() + 15
        while not (tmp / "admin.sock").exists() or not _listening(port):
            if proc.poll() is not None:
                raise AssertionError(f"haproxy exited with {proc.returncode} at start-up")
            if time.monotonic() > deadline:
                raise AssertionError("haproxy did not start within 15 s")
            time.sleep(0.05)
        yield Haproxy(tmp, port, stubs, proc, cfg)
    finally:
        stop_group(proc, 5.0)
        farm.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll `check` until true; the seconds it took. Fails the test after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


async def in_thread(fn: Callable[[], object]) -> object:
    return await asyncio.to_thread(fn)


Step = Callable[[], Awaitable[None]]
