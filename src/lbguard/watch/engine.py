"""One balancer under watch: snapshots in, alert transitions out.

The engine holds what must survive between polls (the previous snapshot, the
detectors' state, the alert book) and nothing that does I/O, so the daemon, `--once`,
the benchmark and the tests drive the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from lbguard.model import Config, Dialect
from lbguard.watch.alerts import Alert, AlertBook
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.detect import PoolView, State, Thresholds, blind, evaluate
from lbguard.watch.expected import Expectation, expect
from lbguard.watch.snapshot import Snapshot, interval


def config_weights(config: Config | None) -> dict[str, dict[str, tuple[int, bool]]]:
    """pool -> server -> (weight in the file, disabled in the file)."""
    if config is None:
        return {}
    return {
        pool.name: {s.name: (s.weight, s.disabled) for s in pool.servers} for pool in config.pools
    }


class Engine:
    """Detection and alerting for the snapshots of one balancer."""

    def __init__(
        self,
        balancer: str,
        source: str,
        *,
        config: ConfigFile | None = None,
        thresholds: Thresholds | None = None,
        hold: Mapping[str, int] | None = None,
        resolve_after: int = 3,
        drift: bool = True,
    ) -> None:
        self.balancer = balancer
        self.source = source
        self.config = config
        self.thresholds = thresholds or Thresholds()
        self.book = AlertBook(balancer, hold=hold, resolve_after=resolve_after)
        self.state = State()
        self.last: Snapshot | None = None
        self.views: dict[str, PoolView] = {}
        self.failures = 0
        self.last_error = ""
        # Drift compares live weights with the file; a source that reads weights from
        # the file itself (the nginx log) has none to compare.
        self.drift = drift

    def expectations(self, snapshot: Snapshot, config: Config | None) -> dict[str, Expectation]:
        dialect: Dialect | None = config.dialect if config is not None else None
        models = {p.name: p for p in config.pools} if config is not None else {}
        return {
            name: expect(sample, models.get(name), dialect)
            for name, sample in snapshot.pools.items()
        }

    def observe(self, snapshot: Snapshot, now: datetime) -> list[Alert]:
        """Evaluate the increments since the previous snapshot; return alert transitions."""
        config = self.config.current()[0] if self.config is not None else None
        before = self.last if self.last is not None else snapshot
        self.last = snapshot
        self.failures = 0
        result = evaluate(
            self.state,
            interval(before, snapshot),
            self.expectations(snapshot, config),
            config_weights(config) if self.drift else None,
            self.thresholds,
        )
        self.state = result.state
        self.views = result.views
        return self.book.update(result.conditions, now)

    def failed(self, error: str, now: datetime) -> list[Alert]:
        """A poll failed: count it towards the blind alert; judge nothing else on no data."""
        self.failures += 1
        self.last_error = error
        condition = blind(self.source, self.failures, error, self.thresholds)
        return self.book.update([condition] if condition else [], now, evaluated=False)
