"""Audit results as Prometheus metrics, for a `watch` running in the same process.

The registry is passed in, never global, so watch serves these next to its own on
/metrics and each test builds its own registry.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge

from lbguard.audit.findings import Kind
from lbguard.audit.run import AuditReport


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.findings = Gauge(
            "lbguard_audit_findings",
            "Findings of the last audit, by kind and severity.",
            ["kind", "severity"],
            registry=registry,
        )
        self.failed = Gauge(
            "lbguard_audit_failed",
            "1 when the last audit failed (findings at --fail-on, or it could not run), else 0.",
            registry=registry,
        )
        self.runs = Counter(
            "lbguard_audit_runs",
            "Audits run, by result: ok, failed (findings at --fail-on) or error (could not run).",
            ["result"],
            registry=registry,
        )
        self.last_run = Gauge(
            "lbguard_audit_last_run_timestamp_seconds",
            "When the last audit finished (Unix time).",
            registry=registry,
        )
        self.drift_moved = Gauge(
            "lbguard_audit_drift_traffic_moved_ratio",
            "The largest share of a pool's traffic one drift change moves (0..1).",
            registry=registry,
        )

    def observe(self, report: AuditReport, failed: bool) -> None:
        for kind in Kind:
            for severity in ("error", "warning", "info"):
                n = sum(
                    1 for f in report.findings if f.kind is kind and f.severity.label == severity
                )
                self.findings.labels(kind.value, severity).set(n)
        self.failed.set(1 if failed else 0)
        self.runs.labels("failed" if failed else "ok").inc()
        self.last_run.set(report.at.timestamp())
        moved = [f.impact for f in report.findings if f.kind is Kind.DRIFT]
        self.drift_moved.set(max(moved, default=0.0))

    def observe_error(self) -> None:
        """An audit that could not run: failed, and counted, with the last findings kept."""
        self.failed.set(1)
        self.runs.labels("error").inc()
        self.last_run.set(time.time())
