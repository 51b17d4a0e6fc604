"""Nothing the sandbox starts outlives lbguard: not on a normal exit, not on Ctrl-C,
not when lbguard itself is killed outright.

Each run gets its own TMPDIR, so only its own sandbox is looked at, even while
other verify runs share the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLES, require_haproxy, require_nginx

NGINX = """\
worker_processes 2;
events { worker_connections 256; }
http {
    upstream app { server 10.9.9.1:80; server 10.9.9.2:80; }
    server { listen 80; location / { proxy_pass http://app; } }
}
"""


def sandbox_processes(marker: str) -> list[str]:
    """Every process in a process group that runs a sandbox under `marker` (nginx's
    workers do not name the sandbox in their command line, but share its group)."""
    rows = subprocess.run(["ps", "-ww", "-eo", "pid=,pgid=,args="], capture_output=True, text=True)
    table = [line.split(None, 2) for line in rows.stdout.splitlines()]
    groups = {r[1] for r in table if len(r) == 3 and marker in r[2] and "lbguard-sandbox-" in r[2]}
    return [r[0] for r in table if len(r) >= 2 and r[1] in groups]


def verify(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lbguard", "verify", *args, str(config)]


def config_for(balancer: str, tmp_path: Path) -> Path:
    if balancer == "haproxy":
        require_haproxy()
        return EXAMPLES / "incident" / "haproxy.fixed.cfg"
    require_nginx()
    config = tmp_path / "nginx.conf"
    config.write_text(NGINX)
    return config


@pytest.mark.native
@pytest.mark.parametrize("balancer", ["haproxy", "nginx"])
def test_nothing_outlives_a_normal_run(balancer: str, tmp_path: Path) -> None:
    config = config_for(balancer, tmp_path)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        verify(config, "--requests", "300"), capture_output=True, env=env, timeout=120
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert sandbox_processes(str(tmp_path)) == []
    # The sandbox's directory went with it.
    assert not list(tmp_path.glob("lbguard-sandbox-*"))


@pytest.mark.native
@pytest.mark.parametrize("balancer", ["haproxy", "nginx"])
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_balancer_dies_with_lbguard(how: str, balancer: str, tmp_path: Path) -> None:
    """Ctrl-C runs the cleanup; even SIGKILL of lbguard takes the balancer, its workers
    and the stubs down."""
    config = config_for(balancer, tmp_path)
    slow = ("web-01" if balancer == "haproxy" else "10.9.9.1:80") + ":latency=50ms"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        # A slow stub keeps the run going (about 20 requests/s per connection).
        verify(config, "--requests", "20000", "--timeout", "60", "--stub", slow),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        pids: list[str] = []
        # The balancer (with nginx: master and two workers) and the stubs' nginx.
        while time.monotonic() < deadline and len(pids) < (2 if balancer == "haproxy" else 4):
            pids = sandbox_processes(str(tmp_path))
            time.sleep(0.1)
        assert pids, f"the sandboxed {balancer} never started"
        assert proc.poll() is None, "verify ended before it could be interrupted"
        proc.send_signal(getattr(signal, how))
        proc.wait(10)
        deadline = time.monotonic() + 5
        alive = pids
        while time.monotonic() < deadline and alive:
            alive = [p for p in pids if Path(f"/proc/{p}").exists()]
            time.sleep(0.1)
        assert not alive, f"{balancer} processes survived lbguard's {how}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
