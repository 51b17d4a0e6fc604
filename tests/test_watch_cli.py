"""`lbguard watch` as users meet it: --once table and JSON, exit codes, bad input, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lbguard.sandbox.haproxy_box import free_port
from test_cli import lbguard
from watch_e2e import Load, running_haproxy


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to watch"),
        (("--nginx-log", "access.log"), "'nginx-log' needs 'lb-config'"),
        (("--haproxy-stats", "ftp://x"), "is not a stats source"),
        (("--lb-config", "haproxy.cfg"), "--lb-config needs --haproxy-stats"),
        (("--haproxy-stats", "unix:/nonexistent/admin.sock", "--once", "--interval", "0.1"),
         "cannot read unix:/nonexistent/admin.sock: the socket does not exist"),
        (("--haproxy-stats", "unix:/x", "--lb-config", "/nonexistent.cfg", "--once"),
         "/nonexistent.cfg"),
    ],
)  # fmt: skip
def test_bad_invocations_exit_2_with_one_line(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    proc = lbguard("watch", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("lbguard: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_unknown_watch_settings_are_rejected_by_name(tmp_path: Path) -> None:
    (tmp_path / "lbguard.toml").write_text("[watch]\nintervall = 3\n")
    proc = lbguard("watch", "--haproxy-stats", "unix:/x", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown key 'watch.intervall'" in proc.stderr
    (tmp_path / "lbguard.toml").write_text("[watch.thresholds]\nconcentraton = 0.8\n")
    proc = lbguard("watch", "--haproxy-stats", "unix:/x", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown threshold 'concentraton'" in proc.stderr


def test_other_commands_do_not_load_watch_settings(tmp_path: Path) -> None:
    """`check` keeps [watch] raw: no lbguard.watch import, no pydantic models built for it."""
    (tmp_path / "lbguard.toml").write_text("[watch]\ninterval = 3\n")
    probe = (
        "import sys; from lbguard.settings import load_settings; s, _ = load_settings(); "
        "print(s.watch, any(m.startswith('lbguard.watch') for m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split() == ["{'interval':", "3}", "False"], proc.stderr
    cfg = Path(__file__).parent.parent / "examples" / "incident" / "haproxy.fixed.cfg"
    assert lbguard("check", str(cfg), "--no-native", cwd=tmp_path).returncode == 0


@pytest.mark.native
def test_once_json_and_table_against_the_real_haproxy(haproxy_bin: str, tmp_path: Path) -> None:
    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=150, max_seconds=40):
        stats = f"unix:{box.socket}"
        base = ("watch", "--haproxy-stats", stats, "--lb-config", str(box.cfg), "--once")
        healthy = lbguard(*base, "--interval", "1.5", "--name", "lb-1")
        box.command("set server app/web-02 state drain")
        drained = lbguard(*base, "--interval", "1", "--format", "json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "lb-1 app (weights)" in healthy.stdout and "web-03" in healthy.stdout
    assert "33.3%" in healthy.stdout and "no alert" in healthy.stdout
    assert drained.returncode == 1, drained.stderr
    doc = json.loads(drained.stdout)
    assert set(doc) == {"version", "pools", "alerts"} and doc["version"] == 1
    (pool,) = doc["pools"]
    assert set(pool) == {"name", "servers"} and pool["name"] == "app"
    keys = {"name", "status", "weight", "expected_share", "observed_share", "requests"}
    assert all(set(s) == keys for s in pool["servers"])
    web02 = next(s for s in pool["servers"] if s["name"] == "web-02")
    assert web02["status"] == "DRAIN" and web02["expected_share"] == 0.0
    assert sum(s["requests"] for s in pool["servers"]) > 50
    (alert,) = doc["alerts"]
    assert set(alert) == {
        "fingerprint",
        "kind",
        "severity",
        "pool",
        "server",
        "summary",
        "state",
        "starts_at",
    }
    assert (alert["kind"], alert["server"], alert["state"]) == ("weight-drift", "web-02", "firing")


@pytest.mark.native
def test_daemon_stops_cleanly_on_sigterm(haproxy_bin: str, tmp_path: Path) -> None:
    metrics = free_port()
    with running_haproxy(haproxy_bin, tmp_path) as box:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lbguard",
                "watch",
                "--haproxy-stats",
                f"unix:{box.socket}",
                "--interval",
                "0.2",
                "--metrics",
                f"127.0.0.1:{metrics}",
                "--store",
                str(tmp_path / "store.db"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if (
                        "lbguard_watch_polls_total"
                        in httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=1).text
                    ):
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise AssertionError("no /metrics within 20 s")
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "metrics on http://127.0.0.1:" in err and "stopped" in err
    assert "Traceback" not in err
