"""The sidecar agent reading a real nginx's stub_status on loopback, and what it says
when the status page goes away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from health_helpers import free_port
from lbguard.health.agent import agent_reply
from lbguard.health.overload import OverloadMonitor, State
from lbguard.health.status import FAILURES_BEFORE_DOWN, StatusPoller

pytestmark = pytest.mark.native


def _nginx(exe: str, tmp: Path, port: int) -> subprocess.Popen[bytes]:
    (tmp / "logs").mkdir()
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /nginx_status {{ stub_status; }}
    }}
}}
"""
    )
    proc = subprocess.Popen(
        [exe, "-p", str(tmp), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("nginx did not listen within 10 s")


def test_sidecar_reads_stub_status_then_reports_its_loss(nginx_bin: str, tmp_path: Path) -> None:
    port = free_port()
    proc = _nginx(nginx_bin, tmp_path, port)
    monitor = OverloadMonitor(capacity=4)
    poller = StatusPoller(monitor, f"http://127.0.0.1:{port}/nginx_status")

    async def run() -> None:
        try:
            await poller()
            assert poller.last is not None and poller.last.kind == "nginx"
            # The status request itself is being written while nginx counts.
            assert poller.last.in_flight >= 1
            assert monitor.in_flight_now == poller.last.in_flight
            assert monitor.failure is None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
            for _ in range(FAILURES_BEFORE_DOWN):
                await poller()
        finally:
            await poller.aclose()

    try:
        asyncio.run(run())
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    a = monitor.assess()
    assert a.state is State.FAILING and "unreachable" in a.reason
    assert agent_reply(a).startswith("down #status page unreachable")
