"""`lbguard check --record`: a check run as a "check" trail record, for the timeline."""

from __future__ import annotations

from typing import Any

from lbguard.findings import Severity
from lbguard.report import Report
from lbguard.rule_settings import CommandSettings

# Findings kept in one record; the summary always counts all of them.
RECORDED_FINDINGS = 100


def check_body(report: Report, threshold: Severity) -> dict[str, Any]:
    from lbguard.output.json_format import finding_dict

    return {
        "paths": report.paths,
        "summary": report.summary(),
        "failed": report.failed(threshold),
        "findings": [finding_dict(f) for f in report.findings[:RECORDED_FINDINGS]],
        "findings_total": len(report.findings),
    }


def record_check(report: Report, threshold: Severity, settings: CommandSettings) -> int:
    """Append the run to the trail; returns the record's sequence number."""
    from lbguard.store import open_store

    with open_store(settings_value=settings.store) as store:
        body = check_body(report, threshold)
        return store.append("check", body, subject=" ".join(report.paths)).seq
