"""Detection: pure functions from (state, interval, expectations) to conditions and new state.

Nothing here does I/O or reads a clock: the daemon, `--once`, the tests and the
benchmark feed the same function with intervals, and get back the conditions that
hold now plus the state to feed next time. Conditions become alerts (with hold and
resolve hysteresis) in `lbguard.watch.alerts`.

Each detector and its default threshold is described in docs/watch.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from lbguard.watch.expected import CONCURRENCY, HASH, NONE, WEIGHTS, Expectation
from lbguard.watch.sequential import (
    Baseline,
    chi_square,
    chi_square_sf,
    cusum_step,
    skew_llrs,
    success_rate_outliers,
)
from lbguard.watch.snapshot import Interval, PoolInterval
from lbguard.watch.thresholds import (
    BLIND,
    CONCENTRATION,
    KINDS,
    NO_ACTIVE_SERVER,
    OVERLOAD,
    RUNNING_ON_BACKUP,
    SEVERITY,
    SHARE_DEVIATION,
    STARVATION,
    WEIGHT_DRIFT,
    Thresholds,
)


@dataclass(frozen=True)
class Condition:
    """Something wrong right now; the alert book decides when it becomes an alert."""

    kind: str
    pool: str
    server: str
    summary: str
    severity: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = 0.0  # the figure behind it (share, score, ratio), for metrics

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", SEVERITY[self.kind])


@dataclass(frozen=True)
class WindowEntry:
    """One interval of one pool, as the sliding window keeps it."""

    seconds: float
    picks: Mapping[str, int]
    responses: Mapping[str, int]
    errors: Mapping[str, int]


@dataclass(frozen=True)
class Recent:
    """The newest intervals' counts, just past the volume gate."""

    counts: Mapping[str, int]
    total: int
    seconds: float


@dataclass(frozen=True)
class PoolState:
    cusum: Mapping[str, float] = field(default_factory=dict)
    window: tuple[WindowEntry, ...] = ()
    queued: Mapping[str, int] = field(default_factory=dict)  # consecutive polls with qcur > 0
    rtime: Mapping[str, Baseline] = field(default_factory=dict)


@dataclass(frozen=True)
class State:
    pools: Mapping[str, PoolState] = field(default_factory=dict)


@dataclass(frozen=True)
class PoolView:
    """What one evaluation learnt about a pool, for tables, JSON and metrics."""

    name: str
    expectation: Expectation
    observed: dict[str, float]
    requests: dict[str, int]
    scores: dict[str, float]


@dataclass(frozen=True)
class Evaluation:
    state: State
    conditions: list[Condition]
    views: dict[str, PoolView]


def evaluate(
    state: State,
    interval: Interval,
    expectations: Mapping[str, Expectation],
    config_weights: Mapping[str, Mapping[str, tuple[int, bool]]] | None = None,
    thresholds: Thresholds | None = None,
) -> Evaluation:
    """Every condition that holds after `interval`, and the state for the next call.

    `config_weights` maps pool -> server -> (weight in the file, disabled in the file);
    without it, runtime drift cannot be told from the config.
    """
    t = thresholds or Thresholds()
    pools: dict[str, PoolState] = {}
    conditions: list[Condition] = []
    views: dict[str, PoolView] = {}
    for name, pi in interval.pools.items():
        exp = expectations.get(name)
        if exp is None:
            continue
        old = state.pools.get(name, PoolState())
        new, found, view = evaluate_pool(old, pi, exp, (config_weights or {}).get(name, {}), t)
        pools[name] = new
        conditions.extend(found)
        views[name] = view
    return Evaluation(State(pools), conditions, views)


def _pct(x: float) -> str:
    return f"{x:.0%}" if abs(x * 100 - round(x * 100)) < 0.05 else f"{x:.1%}"


def recent(window: tuple[WindowEntry, ...], volume: int) -> tuple[dict[str, int], float]:
    """Counts of the newest intervals, just enough of them to reach `volume` requests."""
    counts: dict[str, int] = {}
    seconds = 0.0
    total = 0
    for entry in reversed(window):
        for server, n in entry.picks.items():
            counts[server] = counts.get(server, 0) + n
        total += sum(entry.picks.values())
        seconds += entry.seconds
        if total >= volume:
            break
    return counts, seconds


def _sum(window: tuple[WindowEntry, ...], attr: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for entry in window:
        for server, n in getattr(entry, attr).items():
            out[server] = out.get(server, 0) + n
    return out


def evaluate_pool(
    old: PoolState,
    pi: PoolInterval,
    exp: Expectation,
    config: Mapping[str, tuple[int, bool]],
    t: Thresholds,
) -> tuple[PoolState, list[Condition], PoolView]:
    """One pool's conditions after one interval (see `evaluate`)."""
    pool = pi.name
    entry = WindowEntry(
        pi.seconds,
        {d.name: d.picks for d in pi.servers},
        {d.name: d.responses for d in pi.servers},
        {d.name: d.errors_5xx for d in pi.servers},
    )
    window = (*old.window, entry)[-t.window :]
    found: list[Condition] = []
    samples = {d.name: d.sample for d in pi.servers}

    found.extend(_health(pool, pi, exp))
    found.extend(runtime_drift(pool, pi, config))

    counts, seconds = recent(window, t.min_volume)
    total = sum(counts.values())
    observed = {s: (counts.get(s, 0) / total if total else 0.0) for s in samples}

    cusum = dict(old.cusum)
    scores: dict[str, float] = {}
    if exp.mode == WEIGHTS:
        cusum, scores, deviation = _share_deviation(cusum, window, entry, exp, t, pool)
        if deviation is not None:
            found.append(deviation)
    else:
        cusum = {}
    if exp.mode == CONCURRENCY:
        found.extend(_concurrency(pool, pi, exp, t))
    if exp.mode != NONE and total >= t.min_volume:
        r = Recent(counts, total, seconds)
        concentrated = _concentration(pool, exp, r, t)
        if concentrated:
            # One root cause, one alert: the deviation of that server and the
            # starvation of the others are what concentration means.
            found = [c for c in found if c.kind != SHARE_DEVIATION] + concentrated
        elif exp.mode != HASH:  # a hash spreads by key: few keys leave servers idle
            found.extend(_starvation(pool, pi, exp, r, t))

    queued = {d.name: old.queued.get(d.name, 0) + 1 for d in pi.servers if d.sample.qcur > 0}
    rtime, overload = _overload(pool, pi, window, queued, old.rtime, t)
    found.extend(overload)

    view = PoolView(pool, exp, observed, counts, scores)
    return PoolState(cusum, window, queued, rtime), found, view


def _health(pool: str, pi: PoolInterval, exp: Expectation) -> list[Condition]:
    servers = pi.sample.servers
    if not servers:
        return []
    if not any(s.up for s in servers):
        states = ", ".join(f"{s.name} {s.status}" for s in servers[:8])
        more = f" and {len(servers) - 8} more" if len(servers) > 8 else ""
        return [
            Condition(
                NO_ACTIVE_SERVER,
                pool,
                "",
                f"{pool} has no server UP: {states}{more}; every request fails with 503",
            )
        ]
    if exp.on_backup:
        serving = [s for s, p in exp.shares.items() if p > 0]
        actives = [s for s in servers if not s.backup and s.name not in exp.fair]
        down = ", ".join(f"{s.name} {s.status}" for s in actives[:5]) or "none configured"
        return [
            Condition(
                RUNNING_ON_BACKUP,
                pool,
                "",
                f"{pool} runs on backup {', '.join(serving)}: no active server is UP ({down})",
            )
        ]
    return []


def runtime_drift(
    pool: str, pi: PoolInterval, config: Mapping[str, tuple[int, bool]]
) -> list[Condition]:
    """Servers whose live state or weight is not what the file says (name -> weight, disabled)."""
    out = []
    for d in pi.servers:
        s = d.sample
        if s.name not in config:
            continue
        weight, disabled = config[s.name]
        live = s.user_weight if s.user_weight is not None else s.weight
        if s.status == "DRAIN" and weight > 0:
            what = f"{s.name} is drained at runtime (status DRAIN): it takes no new requests"
        elif s.status.startswith("MAINT") and not disabled:
            what = f"{s.name} is in maintenance at runtime ({s.status})"
        elif live != weight and not (disabled and s.status.startswith("MAINT")):
            what = f"{s.name} runs with weight {live} at runtime"
        else:
            continue
        out.append(
            Condition(
                WEIGHT_DRIFT,
                pool,
                s.name,
                f"{what}; the config file says weight {weight}"
                + (" and disabled" if disabled else ""),
                labels={"file_weight": str(weight), "live_weight": str(live)},
                value=float(live),
            )
        )
    return out


def _share_deviation(
    cusum: dict[str, float],
    window: tuple[WindowEntry, ...],
    entry: WindowEntry,
    exp: Expectation,
    t: Thresholds,
    pool: str,
) -> tuple[dict[str, float], dict[str, float], Condition | None]:
    expected = {s: p for s, p in exp.shares.items() if p > 0}
    if len(expected) < 2:
        return {}, {}, None
    cap = 2 * t.cusum_h
    llrs = skew_llrs(entry.picks, expected, t.skew)
    new = {s: cusum_step(cusum.get(s, 0.0), llr, cap) for s, llr in llrs.items()}
    worst = max(new, key=new.__getitem__)
    if new[worst] < t.cusum_h:
        return new, new, None
    counts = _sum(window, "picks")
    total = sum(counts.get(s, 0) for s in expected)
    if total < t.min_volume:
        return new, new, None
    stat, dof = chi_square(counts, expected)
    p_value = chi_square_sf(stat, dof)
    share = counts.get(worst, 0) / total
    if p_value >= t.chi_alpha or abs(share - expected[worst]) < t.min_deviation:
        return new, new, None
    seconds = sum(e.seconds for e in window)
    return (
        new,
        new,
        Condition(
            SHARE_DEVIATION,
            pool,
            worst,
            f"{worst} receives {_pct(share)} of {pool}'s requests ({counts.get(worst, 0)} of "
            f"{total} in {seconds:.0f}s); weights say {_pct(expected[worst])} "
            f"(CUSUM {new[worst]:.0f} ≥ {t.cusum_h:g}, χ² p={p_value:.1e})",
            labels={"observed_share": f"{share:.4f}", "expected_share": f"{expected[worst]:.4f}"},
            value=share,
        ),
    )


def _concentration(pool: str, exp: Expectation, r: Recent, t: Thresholds) -> list[Condition]:
    counts, total, seconds = r.counts, r.total, r.seconds
    top = max(counts, key=lambda s: counts[s], default=None)
    if top is None:
        return []
    share = counts[top] / total
    up = [s for s, p in exp.fair.items() if p > 0]
    fair = exp.fair.get(top, 0.0)
    promised = exp.shares.get(top, 0.0) if exp.mode == HASH else fair
    if share < t.concentration or len(up) < 2 or promised >= t.concentration:
        return []
    return [
        Condition(
            CONCENTRATION,
            pool,
            top,
            f"{top} receives {_pct(share)} of {pool}'s requests ({counts[top]} of {total} in "
            f"{seconds:.0f}s) while {len(up)} servers are UP; weights say {_pct(fair)}",
            labels={"observed_share": f"{share:.4f}", "expected_share": f"{fair:.4f}"},
            value=share,
        )
    ]


def _starvation(
    pool: str, pi: PoolInterval, exp: Expectation, r: Recent, t: Thresholds
) -> list[Condition]:
    counts, total, seconds = r.counts, r.total, r.seconds
    out = []
    for d in pi.servers:
        p = exp.shares.get(d.name, 0.0)
        if p <= 0 or counts.get(d.name, 0) > 0 or p * total < t.starvation_expected:
            continue
        out.append(
            Condition(
                STARVATION,
                pool,
                d.name,
                f"{d.name} is {d.sample.status} with weight {d.sample.weight} but received none "
                f"of {pool}'s {total} requests in {seconds:.0f}s (expected {_pct(p)})",
                labels={"expected_share": f"{p:.4f}"},
                value=0.0,
            )
        )
    return out


def _concurrency(pool: str, pi: PoolInterval, exp: Expectation, t: Thresholds) -> list[Condition]:
    scur = {d.name: d.sample.scur for d in pi.servers if exp.shares.get(d.name, 0.0) > 0}
    total = sum(scur.values())
    # No open connection says nothing about balance, whatever the volume threshold is.
    if total == 0 or total < t.concurrency_min or len(scur) < 2:
        return []
    # The server holding more than its share is the one to name (it is stuck or slow).
    worst = max(scur, key=lambda s: scur[s] / total - exp.shares[s])
    share = scur[worst] / total
    if share - exp.shares[worst] < t.concurrency_deviation:
        return []
    return [
        Condition(
            SHARE_DEVIATION,
            pool,
            worst,
            f"{worst} holds {scur[worst]} of {pool}'s {total} connections ({_pct(share)}); "
            f"leastconn with these weights should keep it near {_pct(exp.shares[worst])}",
            labels={"observed_share": f"{share:.4f}", "basis": "scur"},
            value=share,
        )
    ]


def _overload(
    pool: str,
    pi: PoolInterval,
    window: tuple[WindowEntry, ...],
    queued: Mapping[str, int],
    baselines: Mapping[str, Baseline],
    t: Thresholds,
) -> tuple[dict[str, Baseline], list[Condition]]:
    reasons: dict[str, list[str]] = {}
    rtime: dict[str, Baseline] = {}
    for d in pi.servers:
        s = d.sample
        why = reasons.setdefault(d.name, [])
        if queued.get(d.name, 0) >= t.queue_polls:
            why.append(f"{s.qcur} requests queued for {queued[d.name]} polls")
        if s.slim and s.scur >= t.session_ratio * s.slim:
            why.append(f"{s.scur} of its {s.slim} connection slots in use")
        base = baselines.get(d.name, Baseline(0.0, 0.0, 0))
        if s.rtime_ms is not None and d.responses > 0:
            value = s.rtime_ms
            if base.samples >= t.rtime_warmup and base.is_high(
                value, t.rtime_factor, t.rtime_floor_ms
            ):
                why.append(f"response time {value:.0f} ms against its usual {base.mean:.0f} ms")
            else:
                # Frozen while high, so a slow server cannot teach the baseline it is normal.
                base = base.update(value, t.rtime_alpha)
        rtime[d.name] = base
    errors = _sum(window, "errors")
    if not any(errors.values()):  # the common case: no 5xx at all, nothing to compare
        errors = {}
    responses = _sum(window, "responses") if errors else {}
    judged = {s: n for s, n in responses.items() if n >= t.min_responses}
    rates = {s: 1.0 - errors.get(s, 0) / n for s, n in judged.items()}
    for server in success_rate_outliers(
        rates,
        factor=t.outlier_factor,
        min_hosts=t.outlier_min_hosts,
        fixed=1.0 - t.max_5xx_ratio,
    ):
        ratio = 1.0 - rates[server]
        if ratio >= t.min_5xx_ratio:
            peers = [1.0 - r for s, r in rates.items() if s != server]
            mean = sum(peers) / len(peers) if peers else math.nan
            peer_text = f"; its peers {_pct(mean)}" if peers else ""
            reasons.setdefault(server, []).append(
                f"{_pct(ratio)} of its {judged[server]} responses are 5xx{peer_text}"
            )
    out = [
        Condition(OVERLOAD, pool, server, f"{server} is overloaded: " + "; ".join(why))
        for server, why in reasons.items()
        if why
    ]
    return rtime, out


def blind(source: str, failures: int, error: str, t: Thresholds | None = None) -> Condition | None:
    """The blind condition after `failures` polls in a row failed, the last with `error`."""
    t = t or Thresholds()
    if failures < t.blind_polls:
        return None
    return Condition(
        BLIND,
        "",
        "",
        f"cannot read {source} for {failures} polls in a row ({error}); lbguard is blind to "
        "this balancer",
        labels={"source": source},
        value=float(failures),
    )


__all__ = [
    "KINDS",
    "Condition",
    "Evaluation",
    "State",
    "Thresholds",
    "blind",
    "evaluate",
]
