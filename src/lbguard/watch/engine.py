"""One balancer under watch: snapshots in, alert transitions out.

The engine holds what must survive between polls (the previous snapshot, the
detectors' state, the alert book) and nothing that does I/O, so the daemon, `--once`,
the benchmark and the tests drive the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from lbguard.model import Config, Dialect
from lbguard.watch.alerts import Alert, AlertBook
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.detect import Condition, PoolView, State, Thresholds, blind, evaluate
from lbguard.watch.expected import Expectation, expect
from lbguard.watch.snapshot import Snapshot, interval
from lbguard.watch.thresholds import CONCENTRATION, KINDS

# `check`'s rule that a pool sends everything to one active server, on purpose when
# suppressed: the live concentration it predicts is then by design too.
_SAME_AS = {"LBG101": CONCENTRATION, "single-active-server": CONCENTRATION}


def by_design(config: Config | None) -> dict[str, set[str]]:
    """pool -> alert kinds that its config's `# lbguard: ignore=...` comments excuse.

    The comments that `check` honours (on a server line, the line above, or right after
    the section header) excuse the matching watch kinds for the whole pool: `LBG101`
    (single-active-server) excuses `concentration`, a watch kind name excuses itself,
    `all` excuses everything. A primary/replica pool stays quiet; nothing else does.
    """
    if config is None or not config.comments:
        return {}
    from lbguard.suppress import collect

    suppressions, _ = collect(config)
    out: dict[str, set[str]] = {}
    for pool in config.pools:
        lines = [pool.location, *(s.location for s in pool.servers)]
        for sup in suppressions:
            if not sup.reason:
                continue
            for loc in lines:
                if sup.location.path != loc.path or not sup.first_line <= loc.line <= sup.last_line:
                    continue
                kinds = out.setdefault(pool.name, set())
                for code in sup.codes:
                    if code == "all":
                        kinds.update(KINDS)
                    elif code in KINDS:
                        kinds.add(code)
                    elif code in _SAME_AS:
                        kinds.add(_SAME_AS[code])
    return {name: kinds for name, kinds in out.items() if kinds}


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
        # More sources of conditions, asked after each evaluation (`watch --probe`'s
        # overload verdicts); they go through the same alert book as detection's own.
        self.signals: list[Callable[[], Iterable[Condition]]] = []
        self._designed_for: Config | None = None
        self._designed: dict[str, set[str]] = {}

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
        if config is not self._designed_for:
            self._designed_for, self._designed = config, by_design(config)
        found = [*result.conditions, *(c for signal in self.signals for c in signal())]
        conditions = [c for c in found if c.kind not in self._designed.get(c.pool, ())]
        return self.book.update(conditions, now)

    def failed(self, error: str, now: datetime) -> list[Alert]:
        """A poll failed: count it towards the blind alert; judge nothing else on no data."""
        self.failures += 1
        self.last_error = error
        condition = blind(self.source, self.failures, error, self.thresholds)
        return self.book.update([condition] if condition else [], now, evaluated=False)
