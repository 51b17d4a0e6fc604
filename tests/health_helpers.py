"""Real components for the health tests: stub app servers with in-process agents, a real
haproxy on loopback, its stats socket, and a bounded load generator."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# Re-exported for the health tests: they live in the package so the demo and drills share them.
from lbguard.health.lab import Backend as Backend
from lbguard.health.lab import Load as Load
from lbguard.health.lab import LoopThread as LoopThread
from lbguard.health.lab import free_pair as free_pair
from lbguard.health.lab import free_port as free_port

T = TypeVar("T")


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


def shares(before: Counter[str], after: Counter[str]) -> dict[str, float]:
    delta = after - before
    total = sum(delta.values()) or 1
    return {k: v / total for k, v in delta.items()}
