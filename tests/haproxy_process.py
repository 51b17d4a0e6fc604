"""A real HAProxy in master-worker mode on loopback, for tests that need a running process.

It runs in its own process group (killed as a group afterwards, whatever happens), with
an admin stats socket for the runtime API and a master socket for reloads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lbguard.haproxy_runtime import RuntimeAPIError, RuntimeClient
from lbguard.sandbox.haproxy_box import free_port
from lbguard.sandbox.stubs import StubFarm, StubServer


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    config: Path
    admin: str
    master: str
    frontend_port: int
    stub_ports: dict[str, int]

    def runtime(self, command: str) -> str:
        return RuntimeClient(f"unix:{self.admin}").command(command)

    def pid(self) -> str:
        return RuntimeClient(f"unix:{self.admin}").show_info()["Pid"]

    def reload(self, timeout: float = 20.0) -> None:
        """Reload through the master socket and wait until a new worker answers."""
        before = self.pid()
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.master)
            s.sendall(b"reload\n")
            with contextlib.suppress(OSError):
                s.recv(4096)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeAPIError, KeyError):
                if self.pid() != before:
                    return
            time.sleep(0.05)
        raise AssertionError("haproxy did not reload in time")

    def request(self, source: str = "127.0.0.1", timeout: float = 5.0) -> str:
        with socket.create_connection(
            ("127.0.0.1", self.frontend_port), timeout=timeout, source_address=(source, 0)
        ) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return data.split(b"\r\n", 1)[0].decode()


def config_text(
    tmp: Path, frontend_port: int, servers: dict[str, str], backend_extra: str = ""
) -> str:
    """A config whose `app` servers are `name -> "127.0.0.1:PORT options"`."""
    lines = [
        "global",
        f"    stats socket {tmp / 'admin.sock'} mode 600 level admin",
        "    nbthread 1",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 10s",
        "    timeout server 10s",
        "",
        "frontend www",
        f"    bind 127.0.0.1:{frontend_port}",
        "    default_backend app",
        "",
        "backend app",
        "    balance roundrobin",
        *(f"    server {name} {spec}" for name, spec in servers.items()),
        backend_extra,
        "",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def running_haproxy(
    haproxy: str, tmp: Path, names: tuple[str, ...] = ("web-01", "web-02", "web-03")
) -> Iterator[Running]:
    ports = {name: free_port() for name in names}
    farm = StubFarm([StubServer(name, port) for name, port in ports.items()])
    farm.start()
    fe = free_port()
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(config_text(tmp, fe, {n: f"127.0.0.1:{p} check" for n, p in ports.items()}))
    master = tmp / "master.sock"
    log = (tmp / "haproxy.log").open("wb")
    proc = subprocess.Popen(
        [haproxy, "-W", "-S", str(master), "-f", str(cfg)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = Running(proc, cfg, str(tmp / "admin.sock"), str(master), fe, ports)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(RuntimeAPIError):
                running.pid()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp / "haproxy.log").read_text(errors="replace"))
            time.sleep(0.05)
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        log.close()
        farm.stop()
