"""Detection over a whole fleet at once: numpy arrays per field, exact code per suspect pool.

`lbguard.watch.detect.evaluate` judges one server at a time, which is what a pool in
trouble deserves (its summaries quote the numbers) but far too slow for 20,000 quiet
servers on every poll. Here every detector is first run as array arithmetic over all
servers, in the same floating-point operations, in the same order, as the exact code;
a pool is *suspect* when any of them could hold for it, and only suspect pools go
through `evaluate_pool`. For the others no condition can hold, and their state (CUSUM,
sliding window, queue counts, response-time baselines) advances in the arrays exactly
as `evaluate_pool` would have advanced it. tests/test_watch_fleet.py checks both
paths agree on random fleets.

The arrays are aligned with the server rows of a `StatColumns` layout; when the layout
changes (a reload adds a server) the engine falls back to `evaluate` until every
window entry has the new layout again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np

from lbguard.model import Config, Dialect, Pool
from lbguard.watch.columns import NONE, Bools, Floats, Ints, StatColumns
from lbguard.watch.detect import (
    Condition,
    PoolState,
    PoolView,
    State,
    WindowEntry,
    evaluate_pool,
    runtime_drift,
)
from lbguard.watch.expected import CONCURRENCY, HASH, WEIGHTS, Expectation, expect, mode_for
from lbguard.watch.expected import NONE as NO_SHARE
from lbguard.watch.sequential import Baseline
from lbguard.watch.snapshot import PoolInterval, ServerDelta, Snapshot
from lbguard.watch.thresholds import Thresholds

_MODES = (WEIGHTS, CONCURRENCY, NO_SHARE, HASH)


@dataclass(frozen=True)
class Entry:
    """One interval of every server, as the sliding window keeps it."""

    seconds: float
    picks: Ints
    responses: Ints
    errors: Ints
    fresh: Bools  # per pool: the pool was in the window when this entry was taken


@dataclass(frozen=True)
class FleetState:
    """`State` for every pool of one layout, one array per field (NaN: no CUSUM kept)."""

    layout: StatColumns
    cusum: Floats
    window: tuple[Entry, ...]
    queued: Ints
    rt_mean: Floats
    rt_dev: Floats
    rt_samples: Ints


def same_layout(a: StatColumns, b: StatColumns) -> bool:
    return (
        a.pools == b.pools
        and a.names == b.names
        and np.array_equal(a.start, b.start)
        and np.array_equal(a.stop, b.stop)
    )


def _unique_names(c: StatColumns) -> bool:
    return all(
        len(set(c.names[lo:hi])) == hi - lo
        for lo, hi in zip(c.start.tolist(), c.stop.tolist(), strict=True)
    )


def from_state(state: State, c: StatColumns) -> FleetState | None:
    """`state` as arrays on the layout of `c`, or None when its windows hold other servers."""
    if not _unique_names(c):
        return None
    n = len(c)
    cusum = np.full(n, math.nan)
    queued = np.zeros(n, dtype=np.int64)
    rt = np.zeros((2, n))
    samples = np.zeros(n, dtype=np.int64)
    depth = max((len(p.window) for p in state.pools.values()), default=0)
    seconds: list[float | None] = [None] * depth
    arrays = np.zeros((depth, 3, n), dtype=np.int64)
    fresh = np.zeros((depth, len(c.pools)), dtype=bool)
    for i, name in enumerate(c.pools):
        ps = state.pools.get(name)
        if ps is None:
            continue
        lo, hi = int(c.start[i]), int(c.stop[i])
        names = c.names[lo:hi]
        at = {s: lo + k for k, s in enumerate(names)}
        if any(s not in at for s in (*ps.cusum, *ps.queued, *ps.rtime)):
            return None
        for s, v in ps.cusum.items():
            cusum[at[s]] = v
        for s, q in ps.queued.items():
            queued[at[s]] = q
        for s, b in ps.rtime.items():
            rt[0, at[s]], rt[1, at[s]], samples[at[s]] = b.mean, b.deviation, b.samples
        for back, entry in enumerate(reversed(ps.window)):
            j = depth - 1 - back
            if list(entry.picks) != names or list(entry.responses) != names:
                return None
            if list(entry.errors) != names:
                return None
            if seconds[j] is not None and seconds[j] != entry.seconds:
                return None
            seconds[j] = entry.seconds
            fresh[j, i] = True
            arrays[j, 0, lo:hi] = list(entry.picks.values())
            arrays[j, 1, lo:hi] = list(entry.responses.values())
            arrays[j, 2, lo:hi] = list(entry.errors.values())
    window = tuple(
        Entry(s if s is not None else 0.0, arrays[j, 0], arrays[j, 1], arrays[j, 2], fresh[j])
        for j, s in enumerate(seconds)
    )
    return FleetState(c, cusum, window, queued, rt[0].copy(), rt[1].copy(), samples)


def pool_state(fs: FleetState, i: int) -> PoolState:
    """The `PoolState` of pool `i`, as `evaluate_pool` keeps it."""
    c = fs.layout
    lo, hi = int(c.start[i]), int(c.stop[i])
    names = c.names[lo:hi]
    cusum = fs.cusum[lo:hi].tolist()
    window = tuple(
        WindowEntry(
            e.seconds,
            dict(zip(names, e.picks[lo:hi].tolist(), strict=True)),
            dict(zip(names, e.responses[lo:hi].tolist(), strict=True)),
            dict(zip(names, e.errors[lo:hi].tolist(), strict=True)),
        )
        for e in fs.window
        if e.fresh[i]
    )
    mean, dev, samples = fs.rt_mean[lo:hi].tolist(), fs.rt_dev[lo:hi].tolist(), fs.rt_samples[lo:hi]
    return PoolState(
        {s: v for s, v in zip(names, cusum, strict=True) if not math.isnan(v)},
        window,
        {s: q for s, q in zip(names, fs.queued[lo:hi].tolist(), strict=True) if q > 0},
        {
            s: Baseline(m, d, k)
            for s, m, d, k in zip(names, mean, dev, samples.tolist(), strict=True)
        },
    )


def to_state(fs: FleetState) -> State:
    return State({name: pool_state(fs, i) for i, name in enumerate(fs.layout.pools)})


def usable(t: Thresholds) -> bool:
    """Thresholds under which the array screens are exact (the documented ranges)."""
    return t.window >= 1 and t.queue_polls >= 1 and t.min_5xx_ratio > 0 and t.max_5xx_ratio >= 0


@dataclass(frozen=True)
class ConfigArrays:
    """The config's promise per server row: weight and backup (first line of that name),
    and weight and disabled as drift reads them (last line of that name)."""

    known: Bools
    weight: Floats
    backup: Bools
    drift_known: Bools
    drift_weight: Ints
    disabled: Bools


def config_arrays(c: StatColumns, models: Mapping[str, Pool]) -> ConfigArrays:
    n = len(c)
    known, backup = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    weight = np.zeros(n)
    d_known, disabled = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    d_weight = np.zeros(n, dtype=np.int64)
    for i, name in enumerate(c.pools):
        model = models.get(name)
        if model is None:
            continue
        first: dict[str, tuple[int, bool]] = {}
        last: dict[str, tuple[int, bool]] = {}
        for server in model.servers:
            first.setdefault(server.name, (server.weight, server.backup))
            last[server.name] = (server.weight, server.disabled)
        lo = int(c.start[i])
        for k, name_ in enumerate(c.names[lo : int(c.stop[i])]):
            if name_ in first:
                known[lo + k] = True
                weight[lo + k], backup[lo + k] = first[name_]
                d_known[lo + k] = True
                d_weight[lo + k], disabled[lo + k] = last[name_]
    return ConfigArrays(known, weight, backup, d_known, d_weight, disabled)


class Segments:
    """Per-pool reductions over server rows grouped by pool."""

    def __init__(self, c: StatColumns) -> None:
        self.of = c.pool_of
        self.count = len(c.pools)
        self.start, self.stop = c.start, c.stop
        nonempty = np.flatnonzero(c.stop > c.start)
        self._order = nonempty[np.argsort(c.start[nonempty], kind="stable")]

    def sum(self, x: Ints) -> Ints:
        cum = np.concatenate(([0], np.cumsum(x)))
        out: Ints = cum[self.stop] - cum[self.start]
        return out

    def any(self, mask: Bools) -> Bools:
        out: Bools = np.bincount(self.of, weights=mask, minlength=self.count) > 0
        return out

    def fsum(self, x: Floats) -> Floats:
        """Sums in row order, one addition at a time (as Python's `sum` over the pool)."""
        return cast(Floats, np.bincount(self.of, weights=x, minlength=self.count))

    def max(self, x: Ints) -> Ints:
        out = np.zeros(self.count, dtype=x.dtype)
        if len(self._order):
            out[self._order] = np.maximum.reduceat(x, self.start[self._order])
        return out


def _skew_logs(p: Floats, skew: float) -> tuple[Floats, Floats]:
    """ln(q/p) and ln(scale) of `skewed_alternative`, with `math.log` once per distinct share."""
    values, inverse = np.unique(p, return_inverse=True)
    lq, ls = np.zeros(len(values)), np.zeros(len(values))
    for k, share in enumerate(values.tolist()):
        q = min(share * skew, 0.99)
        scale = (1.0 - q) / (1.0 - share) if share < 1.0 else 0.0
        lq[k] = math.log(q / share)
        ls[k] = math.log(scale) if scale > 0.0 else -math.inf
    return lq[inverse], ls[inverse]


@dataclass
class Outcome:
    state: FleetState
    conditions: list[Condition]
    views: Callable[[], dict[str, PoolView]]
    exact: int  # pools judged by the exact code


def evaluate_fleet(
    fs: FleetState,
    before: StatColumns,
    after: Snapshot,
    c: StatColumns,
    seconds: float,
    config: Config | None,
    cfg: ConfigArrays | None,
    drift: bool,
    t: Thresholds,
) -> Outcome:
    """`detect.evaluate` over every pool of `c`, with `evaluate_pool` only for suspects."""
    seg = Segments(c)
    of = c.pool_of
    models = {p.name: p for p in config.pools} if config is not None else {}
    dialect: Dialect | None = config.dialect if config is not None else None

    def delta(now: Ints, then: Ints) -> Ints:
        d = now - then
        return np.where(d < 0, now, d)

    lbtot = c.value("lbtot")
    picks = delta(lbtot, before.value("lbtot"))
    responses = delta(c.responses, before.responses)
    errors = delta(c.value("hrsp_5xx"), before.value("hrsp_5xx"))
    window = (*fs.window, Entry(seconds, picks, responses, errors, np.ones(seg.count, bool)))
    window = window[-t.window :]

    # Expectations (expected.expect), for the pools whose shares follow weights.
    algorithms = [
        models[p].balance.algorithm if p in models else a
        for p, a in zip(c.pools, c.algorithm, strict=True)
    ]
    mode = np.array([_MODES.index(mode_for(a)) for a in algorithms], dtype=np.int64)
    flags = c.flags
    up, serving, drain = flags["up"], flags["serving"], flags["drain"]
    drain_nolb, maint = flags["drain_or_nolb"], flags["maint"]
    weight = c.value("weight")
    uweight = c.numbers["uweight"]
    sample_w = np.where(uweight != NONE, uweight, weight).astype(np.float64)
    if cfg is not None:
        w = np.where(cfg.known, cfg.weight, sample_w)
        backup = np.where(cfg.known, cfg.backup, c.backup)
    else:
        w, backup = sample_w, c.backup
    throttle = c.numbers["throttle"]
    ramping = (throttle != NONE) & (throttle < 100)
    drained = drain_nolb | (up & (weight == 0))
    eligible = serving & ~drained & (w > 0)
    active = eligible & ~backup
    sum_active = seg.fsum(np.where(active, w, 0.0))
    sum_eligible = seg.fsum(np.where(eligible, w, 0.0))
    n_active = seg.sum(active.astype(np.int64))
    n_fair = seg.sum(eligible.astype(np.int64))
    shares = np.where(active, w / np.where(active, sum_active[of], 1.0), 0.0)
    fair = np.where(eligible, w / np.where(eligible, sum_eligible[of], 1.0), 0.0)

    suspect = (mode == _MODES.index(HASH)) | (n_active == 0) | (c.stop == c.start)
    suspect |= seg.any(ramping) | ~seg.any(up)

    drifted = np.zeros(seg.count, dtype=bool)
    if cfg is not None and drift:
        live = np.where(uweight != NONE, uweight, weight)
        dw, off = cfg.drift_weight, cfg.disabled
        drifting = cfg.drift_known & (
            (drain & (dw > 0)) | (maint & ~off) | ((live != dw) & ~(off & maint))
        )
        # Drift alone (an agent that sets weights everywhere) needs no other detector.
        drifted = seg.any(drifting)

    # recent(): the newest entries of each pool, just enough to pass the volume gate.
    depth = len(window)
    newest = np.stack([e.picks for e in reversed(window)])  # depth x servers
    running = np.cumsum(newest, axis=0)
    pool_running = np.stack([seg.sum(row) for row in running])  # depth x pools
    reached = pool_running >= t.min_volume
    used = np.where(reached.any(axis=0), reached.argmax(axis=0), depth - 1)  # last entry used
    counts = running[used[of], np.arange(len(of))]
    total = pool_running[used, np.arange(seg.count)]

    # Share deviation: the multinomial CUSUM of the pools judged on weights.
    weights_mode = mode == _MODES.index(WEIGHTS)
    judged = active & (weights_mode & (n_active >= 2))[of]
    cusum = np.full(len(of), math.nan)
    if judged.any():
        lq, ls = _skew_logs(shares[judged], t.skew)
        n = picks[judged]
        rest = seg.sum(np.where(judged, picks, 0))[of][judged] - n
        llr = np.where(n > 0, n * lq, 0.0)
        llr = np.where(rest != 0, llr + rest * ls, llr)
        old = fs.cusum[judged]
        step = np.where(np.isnan(old), 0.0, old) + llr
        step = np.where(step > 0.0, step, 0.0)
        cap = 2 * t.cusum_h
        cusum[judged] = np.where(cap < step, cap, step)
        suspect |= seg.any(judged & (np.where(judged, cusum, 0.0) >= t.cusum_h))

    # Concentration and starvation, past the volume gate.
    gated = (mode != _MODES.index(NO_SHARE)) & (total >= t.min_volume)
    top = seg.max(counts)
    safe_total = np.where(total > 0, total, 1)
    suspect |= gated & (top / safe_total >= t.concentration) & (n_fair >= 2)
    starving = (shares > 0) & (counts == 0) & (shares * total[of] >= t.starvation_expected)
    suspect |= gated & seg.any(starving)

    # leastconn: concurrency against shares.
    conc_mode = mode == _MODES.index(CONCURRENCY)
    if conc_mode.any():
        scur = c.value("scur")
        held = shares > 0
        s_total = seg.sum(np.where(held, scur, 0))
        n_held = seg.sum(held.astype(np.int64))
        busy = conc_mode & (s_total >= t.concurrency_min) & (n_held >= 2)
        spread = scur / np.where(s_total[of] > 0, s_total[of], 1)
        off_share = held & (spread - shares >= t.concurrency_deviation)
        suspect |= busy & seg.any(off_share)

    # Overload: queues, session slots, response time, 5xx against peers.
    qcur = c.value("qcur")
    queued = np.where(qcur > 0, fs.queued + 1, 0)
    scur_all, slim = c.value("scur"), c.numbers["slim"]
    overloaded = (queued >= t.queue_polls) | ((slim > 0) & (scur_all >= t.session_ratio * slim))
    rt_raw = c.numbers["rtime"]
    timed = (rt_raw != NONE) & (responses > 0)
    value = rt_raw.astype(np.float64)
    warm = fs.rt_samples >= t.rtime_warmup
    high = (
        timed
        & warm
        & (value > fs.rt_mean + np.maximum(t.rtime_factor * fs.rt_dev, t.rtime_floor_ms))
    )
    overloaded |= high
    learn = timed & ~high
    first = learn & (fs.rt_samples == 0)
    later = learn & ~first
    a = t.rtime_alpha
    dev_now = np.abs(value - fs.rt_mean)
    rt_mean = np.where(
        first, value, np.where(later, fs.rt_mean + a * (value - fs.rt_mean), fs.rt_mean)
    )
    rt_dev = np.where(first, 0.0, np.where(later, fs.rt_dev + a * (dev_now - fs.rt_dev), fs.rt_dev))
    rt_samples = np.where(learn, fs.rt_samples + 1, fs.rt_samples)
    errs = np.sum([e.errors for e in window], axis=0)
    if errs.any():
        resp = np.sum([e.responses for e in window], axis=0)
        ratio = errs / np.where(resp > 0, resp, 1)
        overloaded |= (
            (resp >= t.min_responses) & (errs > 0) & (ratio >= t.min_5xx_ratio * (1 - 1e-9))
        )
    suspect |= seg.any(overloaded)

    new = FleetState(c, cusum, window, queued, rt_mean, rt_dev, rt_samples)
    conditions: list[Condition] = []
    views: dict[str, PoolView] = {}
    for i in np.flatnonzero(suspect | drifted).tolist():
        name = c.pools[i]
        lo, hi = int(c.start[i]), int(c.stop[i])
        sample = after.pools[name]
        pi = PoolInterval(
            name,
            seconds,
            tuple(
                ServerDelta(s.name, int(p), int(r), int(e), s)
                for s, p, r, e in zip(
                    sample.servers,
                    picks[lo:hi].tolist(),
                    responses[lo:hi].tolist(),
                    errors[lo:hi].tolist(),
                    strict=True,
                )
            ),
            sample,
        )
        model = models.get(name)
        weights = {s.name: (s.weight, s.disabled) for s in model.servers} if model and drift else {}
        if not suspect[i]:
            conditions.extend(runtime_drift(name, pi, weights))
            continue
        old = pool_state(fs, i)
        ps, found, view = evaluate_pool(old, pi, expect(sample, model, dialect), weights, t)
        conditions.extend(found)
        views[name] = view
        _write_back(new, lo, hi, ps)

    def all_views() -> dict[str, PoolView]:
        out: dict[str, PoolView] = {}
        for i, name in enumerate(c.pools):
            if name in views:
                out[name] = views[name]
                continue
            lo, hi = int(c.start[i]), int(c.stop[i])
            names = c.names[lo:hi]
            tot = int(total[i])
            got = counts[lo:hi].tolist()
            exp = Expectation(
                _MODES[int(mode[i])],
                dict(zip(names, shares[lo:hi].tolist(), strict=True)),
                dict(zip(names, fair[lo:hi].tolist(), strict=True)),
            )
            scores = {
                s: v for s, v in zip(names, cusum[lo:hi].tolist(), strict=True) if not math.isnan(v)
            }
            out[name] = PoolView(
                name,
                exp,
                {s: (k / tot if tot else 0.0) for s, k in zip(names, got, strict=True)},
                dict(zip(names, got, strict=True)),
                scores,
            )
        return out

    return Outcome(new, conditions, all_views, int(suspect.sum()))


def _write_back(fs: FleetState, lo: int, hi: int, ps: PoolState) -> None:
    """Store what `evaluate_pool` decided for rows lo..hi into the arrays."""
    names = fs.layout.names[lo:hi]
    fs.cusum[lo:hi] = [ps.cusum.get(s, math.nan) for s in names]
    fs.queued[lo:hi] = [ps.queued.get(s, 0) for s in names]
    zero = Baseline(0.0, 0.0, 0)
    bases = [ps.rtime.get(s, zero) for s in names]
    fs.rt_mean[lo:hi] = [b.mean for b in bases]
    fs.rt_dev[lo:hi] = [b.deviation for b in bases]
    fs.rt_samples[lo:hi] = [b.samples for b in bases]
