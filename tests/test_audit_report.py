"""The audit's outputs and exit codes: four formats with the same findings, metrics,
and bad input that ends in one line, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from prometheus_client import CollectorRegistry

from lbguard.audit.durations import human, parse_duration, relative
from lbguard.audit.metrics import AuditMetrics
from lbguard.cli import main
from lbguard.errors import LbguardError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

GOOD = "backend app\n    balance roundrobin\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n"
# A server name that would break HTML or a Markdown table if it were not escaped.
BAD = GOOD.replace(
    "server b 10.0.0.2:80", "server b 10.0.0.2:80 backup\n    server <x|y> 10.0.0.3:80"
)


def _run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"LBGUARD_STORE": f"sqlite:///{tmp_path / 'lbguard.db'}"}
    )


def _approved(tmp_path: Path) -> Path:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(GOOD)
    assert _run(tmp_path, "baseline", "approve", "--no-native", str(cfg)).exit_code == 0
    cfg.write_text(BAD)
    return cfg


def test_formats_show_the_same_findings(tmp_path: Path) -> None:
    cfg = _approved(tmp_path)
    out = {}
    for fmt in ("text", "json", "markdown", "html"):
        result = _run(tmp_path, "audit", "--no-native", "--format", fmt, str(cfg))
        assert result.exit_code == 1, result.output
        out[fmt] = result.stdout
    doc = json.loads(out["json"])
    drift = [f for f in doc["findings"] if f["kind"] == "drift"]
    assert {(f["detail"]["change"], f["server"]) for f in drift} == {
        ("backup", "b"),
        ("server added", "<x|y>"),
    }
    assert doc["failed"] is True and doc["summary"]["drift"] == 2
    assert all(f["runbook_url"].startswith("https://lbguard.dev/runbooks/") for f in drift)
    assert "server b: backup no -> yes; moves 50.0% of the pool's traffic" in out["text"]
    assert "<x|y>" not in out["html"] and "&lt;x|y&gt;" in out["html"]
    assert "<x\\|y>" in out["markdown"] and "| 50.0% |" in out["markdown"]
    assert out["html"].count("https://lbguard.dev/runbooks/drift/") == 2  # text and href


def test_output_file_and_fail_on(tmp_path: Path) -> None:
    cfg = _approved(tmp_path)
    report = tmp_path / "audit.html"
    result = _run(
        tmp_path,
        "audit",
        "--no-native",
        "--fail-on",
        "error",
        "-o",
        str(report),
        "--format",
        "html",
        str(cfg),
    )
    assert result.exit_code == 0 and result.stdout == ""  # drift is a warning
    assert report.read_text().startswith("<!doctype html>")
    post = _run(tmp_path, "audit", "--no-native", "--fail-on", "error", "--post-deploy", str(cfg))
    assert post.exit_code == 1  # post-deploy fails on any drift


def test_unreadable_config_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    cfg = _approved(tmp_path)
    binary = tmp_path / "core.cfg"
    binary.write_bytes(b"\x00\x01\x02")
    result = _run(tmp_path, "audit", "--no-native", "--format", "json", str(cfg), str(binary))
    assert result.exit_code == 1
    kinds = {(f["kind"], f["severity"]) for f in json.loads(result.stdout)["findings"]}
    assert ("unreadable-file", "error") in kinds and ("drift", "warning") in kinds


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("audit", "--every", "soon"), "not a duration"),
        (("audit", "--every", "0s"), "more than zero"),
        (("audit", "--metrics", "127.0.0.1:9918"), "use it with --every"),
        (("audit", "--every", "1h", "--metrics", "nowhere"), "wants HOST:PORT"),
        (("audit", "--baseline", "42"), "no baseline 42"),
        (("postmortem", "--since", "yesterday-ish"), "neither a duration"),
        (("audit", str(EXAMPLES / "incident" / "provision-lb.sh")), "not a balancer config"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], word: str) -> None:
    cfg = _approved(tmp_path)
    extra = (str(cfg),) if args[0] == "audit" else ()
    result = (
        _run(tmp_path, *args, "--no-native", *extra)
        if args[0] == "audit"
        else _run(tmp_path, *args)
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and word in result.stderr, result.stderr


def test_metrics_reflect_the_last_audit(tmp_path: Path) -> None:
    from lbguard.audit.run import run_audit
    from lbguard.settings import Settings
    from lbguard.store import open_store

    cfg = _approved(tmp_path)
    registry = CollectorRegistry()
    metrics = AuditMetrics(registry)
    with open_store(f"sqlite:///{tmp_path / 'lbguard.db'}") as store:
        report = run_audit([str(cfg)], Settings.model_validate({}), store, native=False)
    metrics.observe(report, report.failed())
    get = registry.get_sample_value
    assert get("lbguard_audit_findings", {"kind": "drift", "severity": "warning"}) == 2
    assert get("lbguard_audit_failed") == 1
    assert get("lbguard_audit_drift_traffic_moved_ratio") == pytest.approx(0.5, abs=0.01)


def test_durations() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("90").total_seconds() == 90
    for bad in ("", "h", "1h 30m", "-5m", "1x"):
        with pytest.raises(LbguardError):
            parse_duration(bad)
    d = parse_duration("2h5m")
    assert human(d) == "2 h 05 min" and relative(-d) == "T-02:05:00"
    assert human(parse_duration("250s")) == "4 min 10 s"


def test_console_script_keeps_every_record_and_report(tmp_path: Path) -> None:
    # The console script ends a one-shot audit without interpreter teardown: the
    # report, the trail record and the exit code must all be there regardless.
    cfg = _approved(tmp_path)
    report = tmp_path / "audit.json"
    env = {**os.environ, "LBGUARD_STORE": f"sqlite:///{tmp_path / 'lbguard.db'}"}

    def lbguard(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lbguard", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    audit = lbguard(
        "audit", "--no-native", "--record", "-o", str(report), "--format", "json", str(cfg)
    )
    assert audit.returncode == 1, audit.stderr
    assert audit.stdout == "" and audit.stderr == ""
    assert json.loads(report.read_text())["summary"]["drift"] == 2
    shown = lbguard("audit", "--no-native", str(cfg))
    assert shown.returncode == 1 and "server b: backup no -> yes" in shown.stdout
    verify = lbguard("trail", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "2 records" in verify.stdout  # the baseline and the recorded audit
