"""Detection as pure functions: numbers in, conditions out, no I/O."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lbguard.watch.alerts import AlertBook, fingerprint
from lbguard.watch.detect import Condition, State, Thresholds, blind, evaluate
from lbguard.watch.expected import expect
from lbguard.watch.sequential import (
    Baseline,
    chi_square_sf,
    log_likelihood_ratio,
    skew_llrs,
    skewed_alternative,
    success_rate_outliers,
)
from lbguard.watch.snapshot import PoolSample, interval
from watch_helpers import pool, snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Run:
    """Feeds cumulative counters through evaluate(), one interval at a time."""

    def __init__(self, names: tuple[str, ...] = ("web-01", "web-02", "web-03"), **kw: object):
        self.names = names
        self.totals = dict.fromkeys(names, 0)
        self.state = State()
        self.kw = kw
        self.prev = snapshot(0.0, pool("app", self.totals, **kw))  # type: ignore[arg-type]
        self.at = 0.0

    def step(self, counts: dict[str, int], seconds: float = 1.0, **kw: object) -> list[Condition]:
        for k, v in counts.items():
            self.totals[k] += v
        self.at += seconds
        merged = {**self.kw, **kw}
        sample: PoolSample = pool("app", self.totals, **merged)  # type: ignore[arg-type]
        snap = snapshot(self.at, sample)
        result = evaluate(
            self.state,
            interval(self.prev, snap),
            {"app": expect(sample)},
            {"app": {n: (1, False) for n in self.names}},
            Thresholds(),
        )
        self.prev, self.state = snap, result.state
        return result.conditions


def kinds(conditions: list[Condition]) -> set[tuple[str, str]]:
    return {(c.kind, c.server) for c in conditions}


def test_chi_square_sf_matches_tables() -> None:
    assert math.isclose(chi_square_sf(3.841459, 1), 0.05, rel_tol=1e-4)
    assert math.isclose(chi_square_sf(5.991465, 2), 0.05, rel_tol=1e-4)
    assert math.isclose(chi_square_sf(23.209251, 10), 0.01, rel_tol=1e-4)
    assert chi_square_sf(0.0, 3) == 1.0
    assert chi_square_sf(200.0, 2) < 1e-40


@given(
    st.lists(st.integers(0, 500), min_size=2, max_size=8),
    st.lists(st.integers(1, 20), min_size=8, max_size=8),
    st.floats(1.1, 5.0),
)
@settings(max_examples=200)
def test_closed_form_llr_equals_the_definition(
    counts: list[int], weights: list[int], skew: float
) -> None:
    names = [f"s{i}" for i in range(len(counts))]
    total_w = sum(weights[: len(names)])
    expected = {n: w / total_w for n, w in zip(names, weights, strict=False)}
    observed = dict(zip(names, counts, strict=True))
    fast = skew_llrs(observed, expected, skew)
    for name in names:
        slow = log_likelihood_ratio(observed, expected, skewed_alternative(expected, name, skew))
        assert math.isclose(fast[name], slow, rel_tol=1e-9, abs_tol=1e-9)


def test_balanced_noisy_traffic_raises_nothing_over_2000_intervals() -> None:
    rng = random.Random(7)
    run = Run()
    for _ in range(2000):
        volume = max(0, int(rng.gauss(100, 30)))
        counts = dict.fromkeys(run.names, 0)
        for _ in range(volume):
            counts[rng.choice(run.names)] += 1
        assert run.step(counts) == []


def test_total_concentration_fires_on_the_first_full_interval_and_names_the_server() -> None:
    run = Run()
    for _ in range(5):
        run.step({"web-01": 34, "web-02": 33, "web-03": 33})
    found = run.step({"web-01": 100})
    assert ("concentration", "web-01") in kinds(found)
    text = next(c.summary for c in found if c.kind == "concentration")
    assert "100%" in text and "33.3%" in text and "web-01" in text


def test_two_x_skew_fires_share_deviation_within_ten_seconds_at_100_rps() -> None:
    rng = random.Random(3)
    run = Run()
    for _ in range(10):
        run.step({"web-01": 34, "web-02": 33, "web-03": 33})
    p = {"web-01": 1 / 6, "web-02": 2 / 3, "web-03": 1 / 6}
    for second in range(1, 11):  # noqa: B007 - read after the loop
        counts = dict.fromkeys(run.names, 0)
        for _ in range(100):
            counts[rng.choices(list(p), list(p.values()))[0]] += 1
        found = run.step(counts)
        if ("share-deviation", "web-02") in kinds(found):
            break
    else:
        raise AssertionError("a 2x skew at 100 req/s was not detected in 10 s")
    assert second <= 10
    assert ("share-deviation", "web-01") not in kinds(found)


def test_volume_gate_holds_back_small_samples() -> None:
    run = Run()
    assert run.step({"web-01": 30}) == []
    assert run.step({"web-01": 30}) == []
    assert ("concentration", "web-01") in kinds(run.step({"web-01": 50}))


def test_starvation_of_an_up_server() -> None:
    run = Run()
    found = run.step({"web-01": 100, "web-02": 100, "web-03": 0})
    assert ("starvation", "web-03") in kinds(found)
    assert ("starvation", "web-01") not in kinds(found)


def test_drain_and_set_weight_are_drift_not_deviation() -> None:
    run = Run()
    found = run.step({"web-01": 50, "web-02": 50}, status={"web-03": "DRAIN"}, weight={"web-03": 0})
    assert ("weight-drift", "web-03") in kinds(found)
    assert not any(k in ("share-deviation", "starvation") for k, _ in kinds(found))
    run2 = Run()
    found = run2.step({"web-01": 20, "web-02": 100, "web-03": 20}, weight={"web-02": 5})
    assert ("weight-drift", "web-02") in kinds(found)
    assert "weight 5" in next(c.summary for c in found if c.kind == "weight-drift")


def test_pool_health_no_server_and_backup() -> None:
    run = Run()
    found = run.step({}, status=dict.fromkeys(run.names, "DOWN"))
    assert ("no-active-server", "") in kinds(found)
    run2 = Run(backup=("web-03",))
    found = run2.step({"web-03": 200}, status={"web-01": "DOWN", "web-02": "MAINT"})
    assert ("running-on-backup", "") in kinds(found)
    # One server UP takes everything: not concentration.
    assert not any(k == "concentration" for k, _ in kinds(found))


def test_overload_queue_sustained_and_sessions_near_limit() -> None:
    run = Run()
    balanced = {"web-01": 40, "web-02": 40, "web-03": 40}
    assert run.step(balanced, qcur={"web-02": 4}) == []
    assert run.step(balanced, qcur={"web-02": 4}) == []
    found = run.step(balanced, qcur={"web-02": 4})
    assert ("overload", "web-02") in kinds(found)
    found = Run().step(balanced, scur={"web-01": 95}, slim={"web-01": 100})
    assert ("overload", "web-01") in kinds(found)


def test_leastconn_with_no_open_connection_says_nothing_even_with_no_volume_gate() -> None:
    # concurrency-min = 0 once divided by a total of zero connections.
    idle = pool("app", {"web-01": 0, "web-02": 0}, algorithm="leastconn", scur={})
    later = pool("app", {"web-01": 5, "web-02": 5}, algorithm="leastconn", scur={})
    result = evaluate(
        State(),
        interval(snapshot(0.0, idle), snapshot(1.0, later)),
        {"app": expect(later)},
        None,
        Thresholds(concurrency_min=0),
    )
    assert [c for c in result.conditions if c.labels.get("basis") == "scur"] == []


def test_response_time_against_own_baseline() -> None:
    run = Run()
    balanced = {"web-01": 40, "web-02": 40, "web-03": 40}
    rng = random.Random(1)
    for _ in range(20):
        times = {n: 20 + rng.random() * 5 for n in run.names}
        assert run.step(balanced, rtime_ms=times, responses=run.totals) == []
    slow = {"web-01": 22.0, "web-02": 400.0, "web-03": 21.0}
    found = run.step(balanced, rtime_ms=slow, responses=run.totals)
    assert kinds(found) == {("overload", "web-02")}


def test_success_rate_outlier_rules() -> None:
    rates = {f"s{i}": 0.999 for i in range(6)} | {"bad": 0.7}
    assert success_rate_outliers(rates) == {"bad"}
    assert success_rate_outliers({"a": 0.99, "b": 0.5}) == {"b"}
    assert success_rate_outliers({"a": 0.99, "b": 0.95}) == set()


def test_blind_after_n_polls() -> None:
    assert blind("unix:/x", 2, "refused") is None
    c = blind("unix:/x", 3, "refused")
    assert c is not None and c.kind == "blind" and "refused" in c.summary


def test_baseline_tracks_mean_and_deviation() -> None:
    b = Baseline(0.0, 0.0, 0)
    for v in [10.0, 12.0, 10.0, 12.0] * 10:
        b = b.update(v, 0.2)
    assert 10.0 < b.mean < 12.0 and 0.5 < b.deviation < 1.5
    assert b.is_high(100.0, 4.0, 50.0) and not b.is_high(15.0, 4.0, 50.0)


def test_alert_book_holds_then_fires_once_then_resolves_with_hysteresis() -> None:
    book = AlertBook("lb1", hold={"starvation": 2}, resolve_after=3)
    c = Condition("starvation", "app", "web-03", "web-03 gets nothing")
    now = T0
    assert book.update([c], now) == []
    fired = book.update([c], now + timedelta(seconds=1))
    assert [a.state for a in fired] == ["firing"]
    alert = fired[0]
    assert alert.fingerprint == fingerprint("lb1", "app", "web-03", "starvation")
    assert alert.runbook_url == "https://lbguard.dev/runbooks/starvation/"
    assert alert.labels["server"] == "web-03"
    assert book.update([c], now + timedelta(seconds=2)) == []
    # Flapping: absent twice, back, absent twice: never resolves.
    assert book.update([], now + timedelta(seconds=3)) == []
    assert book.update([], now + timedelta(seconds=4)) == []
    assert book.update([c], now + timedelta(seconds=5)) == []
    assert book.update([], now + timedelta(seconds=6)) == []
    assert book.update([], now + timedelta(seconds=7)) == []
    resolved = book.update([], now + timedelta(seconds=8))
    assert [(a.state, a.fingerprint) for a in resolved] == [("resolved", alert.fingerprint)]
    assert resolved[0].starts_at == alert.starts_at and resolved[0].ends_at is not None
    assert book.firing() == []


def test_alert_book_does_not_resolve_on_no_data() -> None:
    book = AlertBook("lb1", resolve_after=1)
    c = Condition("concentration", "app", "web-01", "x")
    assert len(book.update([c], T0)) == 1
    assert book.update([], T0, evaluated=False) == []
    assert [a.state for a in book.update([], T0)] == ["resolved"]


_STATUSES = ["UP", "DOWN", "MAINT", "DRAIN", "no check", "UP 1/3", "NOLB", "DOWN 1/2"]


@st.composite
def pool_runs(draw: st.DrawFn) -> list[PoolSample]:
    """A pool over a few polls: any statuses, weights, backups, counters and gauges."""
    n = draw(st.integers(1, 7))
    names = [f"s{i}" for i in range(n)]
    backup = tuple(x for x in names if draw(st.booleans()))
    algorithm = draw(st.sampled_from(["roundrobin", "leastconn", "source", "first", "random"]))
    totals = dict.fromkeys(names, 0)
    out = []
    for _ in range(draw(st.integers(1, 5))):
        for x in names:
            totals[x] += draw(st.integers(0, 400))
        out.append(
            pool(
                "app",
                dict(totals),
                status={x: draw(st.sampled_from(_STATUSES)) for x in names},
                weight={x: draw(st.integers(0, 5)) for x in names},
                backup=backup,
                algorithm=algorithm,
                qcur={x: draw(st.integers(0, 3)) for x in names},
                scur={x: draw(st.integers(0, 50)) for x in names},
                slim={x: draw(st.sampled_from([None, 10, 100])) for x in names},
                rtime_ms={x: draw(st.floats(0, 2000)) for x in names},
                hrsp_5xx={x: draw(st.integers(0, 50)) for x in names},
                responses={x: totals[x] + 50 for x in names},
                throttle={x: draw(st.sampled_from([None, 0, 50, 100])) for x in names},
            )
        )
    return out


@given(pool_runs())
@settings(max_examples=150, deadline=None)
def test_any_pool_evaluates_and_conditions_name_its_servers(run: list[PoolSample]) -> None:
    state = State()
    prev = snapshot(0.0, run[0])
    for i, sample in enumerate(run[1:], start=1):
        snap = snapshot(float(i), sample)
        result = evaluate(state, interval(prev, snap), {"app": expect(sample)}, None)
        state, prev = result.state, snap
        names = {s.name for s in sample.servers}
        shares = result.views["app"].expectation.shares
        assert abs(sum(shares.values()) - 1.0) < 1e-9 or sum(shares.values()) == 0.0
        for c in result.conditions:
            assert c.pool == "app" and (c.server == "" or c.server in names)
            assert c.summary and c.severity in ("warning", "critical")


@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), max_size=40),
    st.integers(1, 3),
    st.integers(1, 4),
)
def test_alert_book_alternates_firing_and_resolved(
    rounds: list[list[str]], hold: int, resolve_after: int
) -> None:
    book = AlertBook("lb", hold={"starvation": hold}, resolve_after=resolve_after)
    last: dict[str, str] = {}
    for i, servers in enumerate(rounds):
        conditions = [Condition("starvation", "app", s, f"{s} starves") for s in servers]
        for alert in book.update(conditions, T0 + timedelta(seconds=i)):
            previous = last.get(alert.fingerprint, "resolved")
            assert previous != alert.state, "two firings or two resolves in a row"
            last[alert.fingerprint] = alert.state
    firing = {a.fingerprint for a in book.firing()}
    assert firing == {fp for fp, state in last.items() if state == "firing"}
