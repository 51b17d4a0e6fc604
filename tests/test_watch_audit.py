"""`lbguard watch --audit`: scheduled audits inside watch, their gauges on watch's /metrics.

Real HAProxy under bounded loopback load, watch's daemon polling it in-process, and
audits scheduled every second on their own thread; /metrics is scraped over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from lbguard.cli import main
from lbguard.sandbox.haproxy_box import free_port
from lbguard.settings import Settings, load_settings
from lbguard.store import Store, open_store
from lbguard.watch.audits import schedule_audits
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import SocketStats
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from lbguard.watch.metrics import serve_metrics
from lbguard.watch.settings import AuditScheduleSettings
from watch_e2e import Haproxy, Load, haproxy_config, running_haproxy, until, write_atomic


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), -1.0)


def _slow_validator(tmp: Path) -> Path:
    """A critical-file validator that takes 1.5 s: the audit it belongs to must not
    hold up watch's polls."""
    script = tmp / "slow-validator"
    script.write_text("#!/bin/sh\nsleep 1.5\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@dataclass
class Watching:
    daemon: Daemon
    port: int  # of watch's /metrics
    lines: list[str]  # watch's log


@asynccontextmanager
async def _watching(
    box: Haproxy, store: Store, audit: AuditScheduleSettings, settings: Settings
) -> AsyncIterator[Watching]:
    """Watch's daemon polling `box` every 0.2 s, with scheduled audits, as `watch
    --audit` wires them: one registry, one /metrics, one store."""
    registry = CollectorRegistry()
    server = serve_metrics(registry, "127.0.0.1", 0)
    lines: list[str] = []
    engine = Engine("lb-test", f"unix:{box.socket}", config=ConfigFile(str(box.cfg)))
    daemon = Daemon(
        [Watch(SocketStats(box.socket), engine)], 0.2, store, registry=registry, log=lines.append
    )
    audits = schedule_audits(audit, settings, store, registry, daemon.log)
    try:
        async with daemon:
            yield Watching(daemon, server.server_port, lines)
    finally:
        assert audits.close(30)
        server.shutdown()
        server.server_close()


@pytest.mark.native
def test_audit_gauges_on_watch_metrics_show_drift(haproxy_bin: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lbguard.db'}"
    critical = tmp_path / "sshd_config"
    critical.write_text("PermitRootLogin no\n", encoding="utf-8")
    toml = tmp_path / "lbguard.toml"
    toml.write_text(
        f'[[audit.files]]\npath = "{critical}"\nvalidator = ["{_slow_validator(tmp_path)}"]\n',
        encoding="utf-8",
    )
    settings, _ = load_settings(toml)

    async def scenario(box: Haproxy) -> None:
        cfg = str(box.cfg)
        approved = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["baseline", "approve", "--no-native", "--store", url, "--settings", str(toml), cfg],
        )
        assert approved.exit_code == 0, approved.output
        audit = AuditScheduleSettings(configs=(cfg,), every="1s", native=False)
        with open_store(url) as store:
            async with _watching(box, store, audit, settings) as w:
                await until(
                    lambda: _value(_scrape(w.port), "lbguard_audit_last_run_timestamp_seconds") > 0,
                    30,
                    "the first audit",
                )
                first = _scrape(w.port)
                assert _value(first, "lbguard_audit_runs_total", result="ok") >= 1, w.lines
                assert (
                    _value(first, "lbguard_audit_findings", kind="drift", severity="warning") == 0
                )
                assert _value(first, "lbguard_audit_failed") == 0
                # Watch's own series on the same page.
                polls = _value(first, "lbguard_watch_polls_total", balancer="lb-test", result="ok")
                assert polls > 0
                # Each audit takes 1.5 s (the validator); watch polls every 0.2 s meanwhile.
                before = w.daemon.cycles
                await asyncio.sleep(1.5)
                assert w.daemon.cycles - before >= 3, w.daemon.cycles - before

                # The file changes (not reloaded): web-02 and web-03 become backup.
                text = haproxy_config(box.tmp, box.port, box.stubs, ("web-02", "web-03"))
                await asyncio.to_thread(write_atomic, box.cfg, text)

                def drifted() -> bool:
                    findings = [
                        v
                        for (n, labels), v in _scrape(w.port).items()
                        if n == "lbguard_audit_findings" and ("kind", "drift") in labels
                    ]
                    return sum(findings) >= 2

                await until(drifted, 30, "the drift gauges", step=0.2)
                moved = _value(_scrape(w.port), "lbguard_audit_drift_traffic_moved_ratio")
                assert moved == pytest.approx(1 / 3, abs=0.01)
            records = [r.body for r in store.records(kinds=["audit"])]
        assert records and not any(r.get("error") for r in records)
        assert records[0]["summary"]["drift"] == 0 and not records[0]["failed"], records[0]
        assert any(r["summary"]["drift"] >= 2 for r in records), records[-1]
        assert any(line.startswith(f"audit of {cfg}") for line in w.lines), w.lines

    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=100, max_seconds=60):
        asyncio.run(scenario(box))


@pytest.mark.native
def test_failing_audit_is_recorded_and_watch_goes_on(haproxy_bin: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lbguard.db'}"
    # An audit that cannot run: the runtime API it must compare against is not there.
    missing = str(tmp_path / "gone.sock")

    async def scenario(box: Haproxy) -> None:
        audit = AuditScheduleSettings(
            configs=(str(box.cfg),), every="0.5s", haproxy_stats=f"unix:{missing}", native=False
        )
        with open_store(url) as store:
            async with _watching(box, store, audit, Settings()) as w:
                await until(
                    lambda: (
                        _value(_scrape(w.port), "lbguard_audit_runs_total", result="error") >= 2
                    ),
                    30,
                    "two failed audits",
                )
                cycles = w.daemon.cycles
                await until(lambda: w.daemon.cycles >= cycles + 3, 10, "watch to keep polling")
                assert _value(_scrape(w.port), "lbguard_audit_failed") == 1
            failed = [r.body for r in store.records(kinds=["audit"])]
        assert len(failed) >= 2 and all(r["failed"] and missing in r["error"] for r in failed)
        assert any(line.startswith("audit failed:") and missing in line for line in w.lines)

    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=50, max_seconds=60):
        asyncio.run(scenario(box))


def test_audit_flags_are_checked(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "lbguard.toml").write_text("[watch.audit]\nevery = 'soon'\n", encoding="utf-8")
    for args, message in [
        (["--haproxy-stats", "unix:/nonexistent", "--audit-every", "1h"], "--audit-every"),
        (
            ["--haproxy-stats", "unix:/nonexistent", "--audit", "x.cfg", "--audit-every", "ever"],
            "'ever' is not a duration",
        ),
        (["--haproxy-stats", "unix:/nonexistent", "--once", "--audit", "x.cfg"], "lbguard audit"),
        (
            ["--settings", str(tmp_path / "lbguard.toml"), "--haproxy-stats", "unix:/x"],
            "'soon' is not a duration",
        ),
    ]:
        result = runner.invoke(main, ["watch", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "lbguard: error:" in result.output and message in result.output, result.output
        assert "Traceback" not in result.output


@pytest.mark.native
def test_watch_audit_flag_end_to_end(haproxy_bin: str, tmp_path: Path) -> None:
    """`lbguard watch --audit CONFIG --audit-every 1s` as a process: one /metrics with
    both kinds of series, audits on the trail, a clean stop on SIGTERM."""
    port = free_port()
    store = tmp_path / "store.db"
    with running_haproxy(haproxy_bin, tmp_path) as box:
        argv = [sys.executable, "-m", "lbguard", "watch", "--haproxy-stats", f"unix:{box.socket}"]
        argv += ["--interval", "0.2", "--metrics", f"127.0.0.1:{port}", "--store", str(store)]
        argv += ["--audit", str(box.cfg), "--audit-every", "1s"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    samples = _scrape(port)
                    if _value(samples, "lbguard_audit_last_run_timestamp_seconds") > 0:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError(f"no audit gauges on watch's /metrics within 30 s: {samples}")
            assert any(name == "lbguard_watch_polls_total" for name, _ in samples)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert f"auditing {box.cfg} every 1s" in err and "stopped" in err
    assert "Traceback" not in err
    with open_store(f"sqlite:///{store}") as s:
        assert list(s.records(kinds=["audit"]))
