"""A staged incident, end to end: real HAProxy, a good config approved, a bad config
deployed and reloaded, watch's alerts firing, the fix, the resolve; then the timeline
and the postmortem must tell it with the right windows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from haproxy_process import running_haproxy
from lbguard.audit.durations import human
from lbguard.cli import main
from lbguard.store import open_store


def _lbg(store: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"LBGUARD_STORE": store})


def _alert(store: str, state: str, kind: str, server: str, summary: str) -> None:
    """Append an alert the way `watch` records every alert transition."""
    now = datetime.now(UTC)
    with open_store(store) as s:
        s.append(
            "alert",
            {
                "fingerprint": f"haproxy/app/{server}/{kind}",
                "kind": kind,
                "state": state,
                "pool": "app",
                "server": server,
                "summary": summary,
                "severity": "critical",
                "starts_at": now.isoformat(),
                "ends_at": now.isoformat() if state == "resolved" else None,
            },
            subject="app",
        )


def _traffic(run: object, n: int = 30) -> Counter[str]:
    from haproxy_process import Running

    assert isinstance(run, Running)
    seen: Counter[str] = Counter()
    for i in range(n):
        status_line = run.request(source=f"127.0.{i // 250}.{i % 250 + 1}")
        seen[status_line.split(" ")[1]] += 1  # the code; the reason phrase is the stub's
    return seen


@pytest.mark.native
def test_staged_incident_postmortem(haproxy_bin: str, tmp_path: Path, store_url: str) -> None:
    store = store_url  # SQLite and a real PostgreSQL
    with running_haproxy(haproxy_bin, tmp_path) as run:
        cfg = str(run.config)
        good = run.config.read_text()
        assert (
            _lbg(store, "baseline", "approve", "--no-native", "--note", "r41", cfg).exit_code == 0
        )
        assert _traffic(run)["200"] == 30
        time.sleep(1.1)  # so the approval shows before T+0 on the timeline's clock
        # The bad deploy: two of three servers left as backup.
        bad = good.replace(
            f"web-02 127.0.0.1:{run.stub_ports['web-02']} check",
            f"web-02 127.0.0.1:{run.stub_ports['web-02']} check backup",
        ).replace(
            f"web-03 127.0.0.1:{run.stub_ports['web-03']} check",
            f"web-03 127.0.0.1:{run.stub_ports['web-03']} check backup",
        )
        run.config.write_text(bad)
        mark = _lbg(store, "trail", "mark", "deploy", "--note", "release 42", "--config", cfg)
        assert mark.exit_code == 0 and "2 drift changes" in mark.output, mark.output
        run.reload()
        before = run.runtime("show stat")
        _traffic(run)
        after = run.runtime("show stat")
        assert _lbtot(after, "web-01") - _lbtot(before, "web-01") == 30  # all on one server
        time.sleep(1.1)  # a visible detection delay, as a real poll interval would give
        _alert(store, "firing", "concentration", "web-01", "web-01 takes 100% of app")
        audit = _lbg(
            store, "audit", "--no-native", "--record", "--haproxy-stats", f"unix:{run.admin}", cfg
        )
        assert audit.exit_code == 1
        # The fix.
        run.config.write_text(good)
        assert (
            _lbg(store, "trail", "mark", "deploy", "--note", "revert 42", "--config", cfg).exit_code
            == 0
        )
        run.reload()
        before = run.runtime("show stat")
        _traffic(run)
        after = run.runtime("show stat")
        assert all(
            _lbtot(after, s) - _lbtot(before, s) == 10 for s in ("web-01", "web-02", "web-03")
        )
        time.sleep(1.1)
        _alert(store, "resolved", "concentration", "web-01", "app is balanced again")
        clean = _lbg(
            store, "audit", "--no-native", "--record", "--haproxy-stats", f"unix:{run.admin}", cfg
        )
        assert clean.exit_code == 0, clean.output

    with open_store(store) as s:
        records = list(s.records())
        assert s.verify().ok
    kinds = [r.kind for r in records]
    assert kinds == ["baseline", "deploy", "alert", "audit", "deploy", "alert", "audit"]
    bad_deploy, firing, resolved = records[1], records[2], records[5]

    pm = _lbg(store, "postmortem", "--since", "1h", "--format", "markdown")
    assert pm.exit_code == 0, pm.output
    text = pm.output
    assert "# Postmortem: web-01 takes 100% of app" in text
    start, end = f"{bad_deploy.at:%Y-%m-%d %H:%M:%S}", f"{resolved.at:%Y-%m-%d %H:%M:%S}"
    assert f"**Impact window**: {start} UTC to {end} UTC" in text
    assert f"**Detection time**: {human(firing.at - bad_deploy.at)}" in text
    assert (
        f"**Time to resolution**: {human(resolved.at - bad_deploy.at)} from the first bad event"
        in text
    )
    assert "release 42" in text.split("## The change that preceded it")[1]
    change = text.split("## The change that preceded it")[1].split("## Root cause")[0]
    assert "server web-02: backup no -> yes" in change and "33.3%" in change
    assert "| web-01 | 33.3% | 100.0% |" in change
    assert "## Root cause" in text and "## Actions" in text
    timeline = text.split("## Timeline")[1].split("## The change")[0]
    assert "T+00:00:00" in timeline and "T-00:00:" in timeline

    tl = _lbg(store, "timeline", "--since", "1h", "--format", "json")
    doc = json.loads(tl.output)
    assert doc["first_bad_seq"] == bad_deploy.seq
    rel = {e["seq"]: e["relative_seconds"] for e in doc["events"]}
    assert rel[firing.seq] == pytest.approx((firing.at - bad_deploy.at).total_seconds())
    assert _lbg(store, "timeline", "--since", "1h", "--pool", "nothere").output.count("alert") == 0


def _lbtot(stat: str, server: str) -> int:
    from lbguard.haproxy_runtime import parse_stat_csv

    for row in parse_stat_csv(stat):
        if row["pxname"] == "app" and row["svname"] == server:
            return int(row["lbtot"] or 0)
    raise AssertionError(f"no {server} in show stat")


def test_postmortem_of_a_quiet_window_says_so(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'lbguard.db'}"
    assert _lbg(store, "trail", "mark", "deploy", "--note", "calm").exit_code == 0
    text = _lbg(store, "postmortem", "--since", "10m").output
    assert "No bad event" in text and "No deploy was recorded" not in text.split("## Summary")[0]
    bad = _lbg(store, "timeline", "--since", "soon")
    assert bad.exit_code == 2 and "neither a duration" in bad.stderr
    assert _lbg(store, "timeline", "--since", "1h", "--until", "2h").exit_code == 2


def _daemon(
    tmp_path: Path, *extra: str, probe: Callable[[], None] | None = None
) -> list[dict[str, object]]:
    """Run `audit --every 1s` until two audits are recorded (then `probe()`), SIGTERM it,
    and return the recorded audits."""
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("backend app\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n")
    db = tmp_path / "lbguard.db"
    env = dict(os.environ, LBGUARD_STORE=f"sqlite:///{db}")
    lbguard = str(Path(sys.executable).parent / "lbguard")
    proc = subprocess.Popen(
        [lbguard, "audit", "--no-native", "--every", "1s", "--format", "json", *extra, str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        audits = 0
        while time.monotonic() < deadline and audits < 2:
            time.sleep(0.2)
            if db.exists():
                try:
                    with open_store(f"sqlite:///{db}") as s:
                        audits = sum(1 for _ in s.records(kinds=["audit"]))
                except Exception:  # the daemon may be creating the schema right now
                    continue
        assert audits >= 2
        if probe is not None:
            probe()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert b"audit daemon stopped" in err and b"Traceback" not in err
    with open_store(f"sqlite:///{db}") as s:
        assert s.verify().ok
        since = datetime.now(UTC) - timedelta(hours=1)
        return [r.body for r in s.records(kinds=["audit"], since=since)]


def test_audit_daemon_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    bodies = _daemon(tmp_path)
    assert all(b["failed"] and "error" not in b for b in bodies)  # no baseline: drift


def test_audit_daemon_serves_metrics(tmp_path: Path) -> None:
    import httpx

    from lbguard.sandbox.haproxy_box import free_port

    port = free_port()
    scraped: list[str] = []

    def scrape() -> None:
        scraped.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)

    _daemon(tmp_path, "--metrics", f"127.0.0.1:{port}", probe=scrape)
    (text,) = scraped
    assert "lbguard_audit_failed 1.0" in text
    assert 'lbguard_audit_findings{kind="drift",severity="warning"} 1.0' in text


def test_audit_daemon_records_failed_cycles_and_carries_on(tmp_path: Path) -> None:
    bodies = _daemon(tmp_path, "--haproxy-stats", f"unix:{tmp_path / 'gone.sock'}")
    assert len(bodies) >= 2
    assert all("no such socket" in str(b["error"]) for b in bodies)


def test_check_record_puts_check_runs_on_the_timeline(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'lbguard.db'}"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("backend app\n    server a 10.0.0.1:80\n    server b :80\n")
    result = _lbg(store, "check", "--no-native", "--record", str(cfg))
    assert result.exit_code == 1
    doc = json.loads(_lbg(store, "timeline", "--since", "5m", "--format", "json").output)
    (event,) = doc["events"]
    assert event["kind"] == "check" and event["bad"] and "check FAILED: 1 errors" in event["event"]
    assert doc["first_bad_seq"] == 1
