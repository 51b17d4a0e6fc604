"""`lbguard audit --every 1h`: audits on a schedule, stopping cleanly on SIGTERM.

`lbguard watch --audit` runs the same cycle on a thread beside its polling loop
(`Schedule`), so both record the same trail records and publish the same gauges.

A stop request never interrupts an audit half-way (its trail record is written in
one transaction either way); it ends the wait before the next one. One failed cycle
(an unreachable stats socket, a locked store) is reported and the schedule goes on:
a daemon that dies on the first hiccup audits nothing for the rest of the night.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING

from lbguard.errors import LbguardError
from lbguard.findings import Severity

if TYPE_CHECKING:
    from lbguard.audit.metrics import AuditMetrics
    from lbguard.audit.run import AuditReport
    from lbguard.model import Dialect
    from lbguard.rule_settings import CommandSettings
    from lbguard.store import Store


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_every(
    interval: timedelta,
    cycle: Callable[[], object],
    report_error: Callable[[str], None],
    stop: threading.Event | None = None,
    max_cycles: int | None = None,
) -> int:
    """Run `cycle` now and then every `interval` until stopped; returns the cycles run."""
    stop = stop or threading.Event()
    done = 0
    with stop_on_signals(stop):
        while not stop.is_set():
            started = time.monotonic()
            try:
                cycle()
            except LbguardError as exc:
                report_error(exc.message)
            done += 1
            if max_cycles is not None and done >= max_cycles:
                break
            stop.wait(max(0.0, interval.total_seconds() - (time.monotonic() - started)))
    return done


@dataclass
class AuditCycle:
    """One audit as a schedule runs it: audit, update the gauges, append to the trail.

    An audit that cannot run is on the record too (unless the store itself is what
    failed) and sets the failure gauge, then raises for the caller to report.
    """

    configs: Sequence[str]
    settings: CommandSettings
    store: Store
    threshold: Severity = Severity.WARNING
    record: bool = True
    metrics: AuditMetrics | None = None
    baseline_id: int | None = None
    haproxy_stats: str | None = None
    native: bool = True
    post_deploy: bool = False
    dialect: Dialect | None = None

    def __call__(self) -> AuditReport:
        from lbguard.audit.run import run_audit
        from lbguard.store import StoreError

        subject = " ".join(self.configs)
        try:
            report = run_audit(
                self.configs,
                self.settings,
                self.store,
                baseline_id=self.baseline_id,
                haproxy_stats=self.haproxy_stats,
                native=self.native,
                post_deploy=self.post_deploy,
                dialect=self.dialect,
            )
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.observe_error()
            if self.record and isinstance(exc, LbguardError) and not isinstance(exc, StoreError):
                body = {"failed": True, "error": exc.message, "configs": list(self.configs)}
                self.store.append("audit", body, subject=subject)
            raise
        failed = report.failed(self.threshold)
        if self.metrics is not None:
            self.metrics.observe(report, failed)
        if self.record:
            body = report.record_body(self.threshold)
            self.store.append("audit", body, subject=" ".join(report.configs))
        return report


class Schedule:
    """`run_every` on a thread of its own, for a process whose main loop is another one
    (watch's polling loop must never wait for an audit)."""

    def __init__(
        self,
        interval: timedelta,
        cycle: Callable[[], object],
        report_error: Callable[[str], None],
    ) -> None:
        self.stop = threading.Event()

        def guarded() -> object:
            try:
                return cycle()
            except LbguardError:
                raise
            except Exception as exc:  # a bug in one audit must not end the schedule
                raise LbguardError(f"{type(exc).__name__}: {exc}") from exc

        self.thread = threading.Thread(
            target=run_every,
            args=(interval, guarded, report_error, self.stop),
            name="lbguard-audit",
            daemon=True,
        )

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float) -> bool:
        """Stop after the audit under way, waiting up to `timeout` s; False if still busy."""
        self.stop.set()
        if self.thread.ident is not None:
            self.thread.join(timeout)
        return not self.thread.is_alive()
