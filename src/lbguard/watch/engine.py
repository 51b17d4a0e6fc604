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
from lbguard.watch.columns import StatColumns, columns_of
from lbguard.watch.detect import Condition, PoolView, State, Thresholds, blind, evaluate
from lbguard.watch.expected import Expectation, expect
from lbguard.watch.fleet import (
    ConfigArrays,
    FleetState,
    config_arrays,
    evaluate_fleet,
    from_state,
    same_layout,
    to_state,
    usable,
)
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
        vectorised: bool = True,
    ) -> None:
        self.balancer = balancer
        self.source = source
        self.config = config
        self.thresholds = thresholds or Thresholds()
        self.book = AlertBook(balancer, hold=hold, resolve_after=resolve_after)
        self._state = State()
        self.last: Snapshot | None = None
        self._views: dict[str, PoolView] | None = {}
        self._lazy_views: Callable[[], dict[str, PoolView]] | None = None
        # Large HAProxy fleets are judged in arrays (lbguard.watch.fleet); `vectorised`
        # False keeps the per-server code only, as the equivalence tests compare.
        self.vectorised = vectorised
        self._fleet: FleetState | None = None
        self._config_arrays: tuple[Config | None, StatColumns | None, ConfigArrays | None] = (
            None,
            None,
            None,
        )
        self.exact_pools = 0  # pools the last evaluation judged one server at a time
        self.in_arrays = False  # whether the last evaluation was judged in arrays
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

    @property
    def state(self) -> State:
        """The detectors' state, per pool (built from the arrays when those hold it)."""
        if self._fleet is not None:
            self._state, self._fleet = to_state(self._fleet), None
        return self._state

    @state.setter
    def state(self, value: State) -> None:
        self._state, self._fleet = value, None

    @property
    def views(self) -> dict[str, PoolView]:
        """What the last evaluation learnt per pool (built on first use after a fast one)."""
        if self._views is None:
            assert self._lazy_views is not None
            self._views, self._lazy_views = self._lazy_views(), None
        return self._views

    def observe(self, snapshot: Snapshot, now: datetime) -> list[Alert]:
        """Evaluate the increments since the previous snapshot; return alert transitions."""
        config = self.config.current()[0] if self.config is not None else None
        before = self.last if self.last is not None else snapshot
        self.last = snapshot
        self.failures = 0
        found = self._observe_fleet(before, snapshot, config)
        if found is None:
            result = evaluate(
                self.state,
                interval(before, snapshot),
                self.expectations(snapshot, config),
                config_weights(config) if self.drift else None,
                self.thresholds,
            )
            self.state = result.state
            self._views, self._lazy_views = result.views, None
            self.exact_pools, self.in_arrays = len(result.views), False
            found = result.conditions
        if config is not self._designed_for:
            self._designed_for, self._designed = config, by_design(config)
        found = [*found, *(c for signal in self.signals for c in signal())]
        conditions = [c for c in found if c.kind not in self._designed.get(c.pool, ())]
        return self.book.update(conditions, now)

    def _observe_fleet(
        self, before: Snapshot, after: Snapshot, config: Config | None
    ) -> list[Condition] | None:
        """The conditions judged in arrays, or None when only the per-server code can judge."""
        now, then = columns_of(after.pools), columns_of(before.pools)
        if not self.vectorised or now is None or then is None or not usable(self.thresholds):
            return None
        if not same_layout(now, then):
            return None
        fleet = self._fleet
        if fleet is None or not same_layout(fleet.layout, now):
            fleet = from_state(self.state, now)
            if fleet is None:
                return None
        cfg = None
        if config is not None:
            known, layout, cfg = self._config_arrays
            if known is not config or layout is None or not same_layout(layout, now):
                cfg = config_arrays(now, {p.name: p for p in config.pools})
            self._config_arrays = (config, now, cfg)
        out = evaluate_fleet(
            fleet, then, after, now, after.at - before.at, config, cfg, self.drift, self.thresholds
        )
        self._fleet, self._views, self._lazy_views = out.state, None, out.views
        self.exact_pools, self.in_arrays = out.exact, True
        return out.conditions

    def failed(self, error: str, now: datetime) -> list[Alert]:
        """A poll failed: count it towards the blind alert; judge nothing else on no data."""
        self.failures += 1
        self.last_error = error
        condition = blind(self.source, self.failures, error, self.thresholds)
        return self.book.update([condition] if condition else [], now, evaluated=False)
