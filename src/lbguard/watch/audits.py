"""`lbguard watch --audit`: scheduled audits in the watch process, on watch's /metrics.

The audit is `lbguard audit --every`'s own cycle (`AuditCycle`), run on a thread so
that a slow audit (a native `haproxy -c`, a validator near its timeout) never delays
a poll. An audit that fails is logged, recorded in the trail and shown as
`lbguard_audit_failed`; the schedule and watch go on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lbguard.audit.daemon import AuditCycle, Schedule
from lbguard.audit.durations import parse_duration
from lbguard.audit.metrics import AuditMetrics
from lbguard.watch.settings import AuditScheduleSettings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from lbguard.settings import Settings
    from lbguard.store import Store


def schedule_audits(
    audit: AuditScheduleSettings,
    settings: Settings,
    store: Store,
    registry: CollectorRegistry,
    log: Callable[[str], None],
) -> Schedule:
    """Start auditing `audit.configs` every `audit.every`; close() the result to stop."""
    cycle = AuditCycle(
        audit.configs,
        settings,
        store,
        settings.severity_threshold(),
        record=True,
        metrics=AuditMetrics(registry),
        haproxy_stats=audit.haproxy_stats,
        native=audit.native,
    )

    def run() -> None:
        report = cycle()
        counts = ", ".join(f"{n} {kind}" for kind, n in report.counts().items() if n)
        log(f"audit of {' '.join(report.configs)}: {counts or 'no findings'}")

    schedule = Schedule(parse_duration(audit.every), run, lambda m: log(f"audit failed: {m}"))
    schedule.start()
    return schedule
