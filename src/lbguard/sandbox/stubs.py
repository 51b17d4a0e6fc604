"""Stub backends for the loopback sandbox: each says who it is in every answer.

Every stub answers any request (health checks included) with its status and an
`X-Lbguard-Server` header naming the server it stands for, so the load generator
counts per server independently of the balancer's own statistics. Both kinds keep
connections alive, so a balancer that reuses server connections can.

- `NginxStubFarm`: one real nginx serving every plain stub with `return`, a few
  microseconds per request in C. That keeps the stubs from being what limits the
  sandbox's requests per second.
- `StubFarm`: asyncio servers in a background thread, for stubs that must answer
  late (`--stub NAME:latency=...`), and wherever nginx is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.errors import LbguardError

HEADER = "X-Lbguard-Server"


@dataclass
class StubServer:
    name: str
    port: int
    latency: float = 0.0
    status: int = 200

    def response(self, body: bool = True, close: bool = False) -> bytes:
        """The answer to every request; without the body for HEAD.

        A stub that is about to close says so: a balancer that keeps idle server
        connections would otherwise reuse a closed one, fail, and try another server.
        """
        text = self.name.encode()
        lines = [f"HTTP/1.1 {self.status} Stub", f"{HEADER}: {self.name}"]
        lines.append(f"Content-Length: {len(text)}")
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (text if body else b"")


class _StubProtocol(asyncio.Protocol):
    """Answers each complete request head with the stub's precomputed response."""

    def __init__(self, stub: StubServer, counts: Counter[str], lock: threading.Lock) -> None:
        self.stub = stub
        self.counts = counts
        self.lock = lock
        # (HEAD, closing) -> the bytes to send.
        self.answers = {
            (head, close): stub.response(not head, close)
            for head in (False, True)
            for close in (False, True)
        }
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        served = 0
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            if not (head.startswith((b"OPTIONS", b"HEAD")) or b"/healthz" in head[:64]):
                served += 1
            # HTTP/1.0 (nginx's default to upstreams) or "Connection: close": close after.
            low = head.lower()
            close = b"connection: close" in low or (
                b"http/1.0" in low.split(b"\r\n", 1)[0] and b"connection: keep-alive" not in low
            )
            answer = self.answers[(head.startswith(b"HEAD"), close)]
            if self.stub.latency:
                asyncio.get_running_loop().call_later(
                    self.stub.latency, self._answer, answer, close
                )
            else:
                self._answer(answer, close)
        if served:
            with self.lock:
                self.counts[self.stub.name] += served

    def _answer(self, answer: bytes, close: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(answer)
            if close:
                self.transport.close()


@dataclass
class StubFarm:
    """Asyncio stubs on 127.0.0.1, served from a background thread."""

    stubs: list[StubServer]
    counts: Counter[str] = field(default_factory=Counter)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _servers: list[asyncio.base_events.Server] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        if not self.stubs:
            return
        self._thread = threading.Thread(target=self._run, name="lbguard-stubs", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise LbguardError("the sandbox's stub backends did not start within 10 s")

    def _factory(self, stub: StubServer) -> Callable[[], _StubProtocol]:
        return lambda: _StubProtocol(stub, self.counts, self._lock)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        for stub in self.stubs:
            server = loop.run_until_complete(
                loop.create_server(
                    self._factory(stub), "127.0.0.1", stub.port, reuse_address=True, backlog=1024
                )
            )
            self._servers.append(server)
        self._ready.set()
        loop.run_forever()
        for server in self._servers:
            server.close()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)


# Names go into nginx's config between single quotes, where `$` would start a variable.
_NGINX_SAFE = re.compile(r"[A-Za-z0-9._:/@\[\]+=,-]+")


def nginx_can_serve(stub: StubServer) -> bool:
    """nginx answers at once with any status; a stub that must wait needs asyncio."""
    return (
        stub.latency == 0 and 100 <= stub.status <= 599 and bool(_NGINX_SAFE.fullmatch(stub.name))
    )


def nginx_stub_config(stubs: list[StubServer], folder: str) -> str:
    servers = "".join(
        f"    server {{ listen 127.0.0.1:{s.port}; location / {{ "
        f"add_header {HEADER} '{s.name}' always; return {s.status} '{s.name}'; }} }}\n"
        for s in stubs
    )
    return (
        "worker_processes 1;\n"
        f"pid {folder}/stubs.pid;\n"
        f"error_log {folder}/stubs-error.log;\n"
        "events { worker_connections 16384; }\n"
        "http {\n"
        "    access_log off;\n"
        "    default_type text/plain;\n"
        # Longer than any run: a stub closing an idle connection that the balancer
        # then reuses would make it retry on another server.
        "    keepalive_requests 100000000;\n"
        "    keepalive_timeout 24h;\n"
        f"{servers}"
        "}\n"
    )


_FOREGROUND = "daemon off; master_process off;"


@dataclass
class NginxStubFarm:
    """Plain stubs served by one real nginx process, in its own process group."""

    stubs: list[StubServer]
    folder: str
    exe: str
    preexec: Callable[[], None] | None = None
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not self.stubs:
            return
        root = Path(self.folder) / "stubs"
        (root / "logs").mkdir(parents=True, exist_ok=True)
        conf = root / "stubs.conf"
        conf.write_text(nginx_stub_config(self.stubs, str(root)), encoding="utf-8")
        log = root / "stderr"
        with log.open("wb") as errors:
            self._proc = subprocess.Popen(
                [
                    self.exe,
                    "-p",
                    f"{root}/",
                    "-c",
                    str(conf),
                    "-g",
                    "daemon off; master_process off;",
                ],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
                preexec_fn=self.preexec,
            )
        deadline = time.monotonic() + 10
        pending = [s.port for s in self.stubs]
        while pending:
            if self._proc.poll() is not None:
                detail = log.read_text(errors="replace").strip().splitlines()
                raise LbguardError(
                    "the sandbox's stub backends (nginx) did not start: "
                    + (detail[-1] if detail else f"exit {self._proc.returncode}")
                )
            if time.monotonic() > deadline:
                raise LbguardError("the sandbox's stub backends did not start within 10 s")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", pending[-1])) == 0:
                    pending.pop()
                    continue
            time.sleep(0.01)

    def stop(self) -> None:
        if self._proc is not None:
            stop_group(self._proc)


def stop_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Stop a process started in its own session, with everything it forked: TERM, then
    KILL after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Stubs:
    """Every stub of one sandbox: nginx-served where possible, asyncio for the rest."""

    fast: NginxStubFarm | None
    slow: StubFarm

    @classmethod
    def plan(
        cls,
        stubs: list[StubServer],
        folder: str,
        nginx: str | None,
        preexec: Callable[[], None] | None = None,
    ) -> Stubs:
        if nginx is None:
            return cls(None, StubFarm(stubs))
        fast = [s for s in stubs if nginx_can_serve(s)]
        slow = [s for s in stubs if not nginx_can_serve(s)]
        return cls(NginxStubFarm(fast, folder, nginx, preexec), StubFarm(slow))

    def start_processes(self) -> None:
        """Start the nginx stubs: before any thread exists, as preexec_fn requires."""
        if self.fast is not None:
            self.fast.start()

    def process_groups(self) -> list[int]:
        proc = self.fast._proc if self.fast is not None else None
        return [proc.pid] if proc is not None else []

    def start_threads(self) -> None:
        self.slow.start()

    def stop(self) -> None:
        self.slow.stop()
        if self.fast is not None:
            self.fast.stop()
