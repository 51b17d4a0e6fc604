"""Real balancers, real backends and bounded loopback load for the `lbguard watch` tests.

Everything binds to 127.0.0.0/8 and is torn down by the context managers, whatever
the test does. The load generator is bounded in requests and in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lbguard.sandbox.haproxy_box import free_port
from lbguard.sandbox.run import request_once, stop_group
from lbguard.sandbox.stubs import StubFarm, StubServer
from lbguard.simulate.traffic import Request

SERVERS = ("web-01", "web-02", "web-03")


def haproxy_config(
    tmp: Path,
    port: int,
    stubs: dict[str, int],
    backup: tuple[str, ...] = (),
    stats_port: int | None = None,
    weight: int | None = None,
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
    if stats_port is not None:
        lines[8:8] = [
            "frontend stats",
            f"    bind 127.0.0.1:{stats_port}",
            "    http-request use-service prometheus-exporter if { path /metrics }",
            "    stats enable",
            "    stats uri /stats",
            "    stats auth admin:s3cret-pw",
        ]
    for name, stub_port in stubs.items():
        flag = " backup" if name in backup else ""
        flag += f" weight {weight}" if weight is not None else ""
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
                request_once(self.port, Request(source, "/"), 5.0)
            except OSError:
                self.failed += 1
            self.sent += 1
            rate = self.rate * (1 + self.jitter * (rng.random() * 2 - 1))
            self._stop.wait(1.0 / max(rate, 1.0))


@dataclass
class Balancer:
    """A running balancer: its directory, port, stub ports, process and config file."""

    tmp: Path
    port: int
    stubs: dict[str, int]
    proc: subprocess.Popen[bytes]
    cfg: Path
    farm: StubFarm | None = None  # the stubs, to make one slow or failing mid-test

    def stub(self, name: str) -> StubServer:
        assert self.farm is not None
        return next(s for s in self.farm.stubs if s.name == f"app/{name}")


@dataclass
class Haproxy(Balancer):
    stats_port: int | None = None
    weight: int | None = None

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
        text = haproxy_config(self.tmp, self.port, self.stubs, backup, self.stats_port, self.weight)
        write_atomic(self.cfg, text)
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
    exe: str,
    tmp: Path,
    backup: tuple[str, ...] = (),
    stats_port: int | None = None,
    weight: int | None = None,
) -> Iterator[Haproxy]:
    """haproxy in master-worker mode (-W) in front of three stub backends, on loopback."""
    stubs = {name: free_port() for name in SERVERS}
    farm = StubFarm([StubServer(f"app/{n}", p) for n, p in stubs.items()])
    port = free_port()
    cfg = tmp / "haproxy.cfg"
    write_atomic(cfg, haproxy_config(tmp, port, stubs, backup, stats_port, weight))
    proc = _spawn([exe, "-W", "-db", "-f", str(cfg)], tmp)
    farm.start()
    try:
        _wait_started(proc, lambda: (tmp / "admin.sock").exists() and _listening(port), "haproxy")
        yield Haproxy(tmp, port, stubs, proc, cfg, farm, stats_port, weight)
    finally:
        stop_group(proc, 5.0)
        farm.stop()


def _spawn(argv: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    """The balancer in its own process group, so `stop_group` takes its workers too."""
    return subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_started(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} at start-up")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start within 15 s")
        time.sleep(0.05)


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


LOG_FORMAT = (
    'log_format lbguard \'$remote_addr - $remote_user [$time_local] "$request" $status '
    '$body_bytes_sent "$http_referer" "$http_user_agent" '
    "$upstream_addr $upstream_status $upstream_response_time';"
)


def nginx_config(tmp: Path, port: int, stubs: dict[str, int], backup: tuple[str, ...] = ()) -> str:
    servers = "\n".join(
        f"        server 127.0.0.1:{p}{' backup' if n in backup else ''};" for n, p in stubs.items()
    )
    # Workers reopen the log on USR1; under root they would be `nobody`, who cannot
    # enter pytest's private temporary directory.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    {LOG_FORMAT}
    access_log {tmp}/access.log lbguard;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream app {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://app; }}
    }}
}}
"""


@dataclass
class Nginx(Balancer):
    @property
    def log(self) -> Path:
        return self.tmp / "access.log"

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.stubs[name]}"

    def reload(self, backup: tuple[str, ...] = ()) -> None:
        """Rewrite the config, SIGHUP the master, wait until a new worker serves."""
        write_atomic(self.cfg, nginx_config(self.tmp, self.port, self.stubs, backup))
        os.kill(self.proc.pid, signal.SIGHUP)

    def reopen_logs(self) -> None:
        os.kill(self.proc.pid, signal.SIGUSR1)


@contextlib.contextmanager
def running_nginx(exe: str, tmp: Path) -> Iterator[Nginx]:
    stubs = {name: free_port() for name in SERVERS}
    farm = StubFarm([StubServer(f"app/{n}", p) for n, p in stubs.items()])
    port = free_port()
    cfg = tmp / "nginx.conf"
    write_atomic(cfg, nginx_config(tmp, port, stubs))
    proc = _spawn(
        [exe, "-p", f"{tmp}/", "-c", str(cfg), "-g", "daemon off; master_process on;"], tmp
    )
    farm.start()
    try:
        _wait_started(proc, lambda: _listening(port), "nginx")
        yield Nginx(tmp, port, stubs, proc, cfg, farm)
    finally:
        stop_group(proc, 5.0)
        farm.stop()


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(  # type: ignore[attr-defined]
            {"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextlib.contextmanager
def webhook_server(port: int) -> Iterator[list[dict[str, Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def watch_daemon(*args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`lbguard watch ARGS` as a separate process, its stderr in `log`; SIGTERM at the end
    (killed if it does not stop within 20 s). Read `proc.returncode` after the block."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lbguard", "watch", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=log.parent,
        )
    try:
        yield proc
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
