"""The overload score, the weight function and their hysteresis, on a manual clock."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from lbguard.health import signals
from lbguard.health.agent import agent_reply
from lbguard.health.overload import (
    HostSignals,
    OverloadMonitor,
    State,
    Threshold,
    Thresholds,
    weight_for,
)
from lbguard.health.probe import parse_agent_reply
from lbguard.health.status import parse_status


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _serve(m: OverloadMonitor, clock: Clock, n: int, latency: float, status: int = 200) -> None:
    """n sequential requests of `latency` seconds each."""
    for _ in range(n):
        t = m.request_started()
        clock.now += latency
        m.request_finished(t, status)


@given(st.floats(-1, 2), st.floats(-1, 2))
def test_weight_is_monotonic_and_floored(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert weight_for(lo) >= weight_for(hi)
    assert 10 <= weight_for(hi) <= 100
    assert weight_for(a) % 5 == 0


def test_weight_end_points() -> None:
    assert weight_for(0.0) == 100
    assert weight_for(0.5) == 55
    assert weight_for(1.0) == 10
    assert weight_for(1.0, floor_pct=25) == 25


def test_threshold_pressure() -> None:
    t = Threshold(0.75, 0.95)
    assert t.pressure(0.5) == 0.0
    assert abs(t.pressure(0.85) - 0.5) < 1e-9
    assert t.pressure(2.0) == 1.0


def test_steady_load_below_start_keeps_full_weight() -> None:
    clock = Clock()
    m = OverloadMonitor(capacity=10, clock=clock)
    for _ in range(30):
        # Seven requests in flight for a whole second: 70% of capacity.
        starts = [m.request_started() for _ in range(7)]
        clock.now += 1.0
        for s in starts:
            m.request_finished(s, 200)
        a = m.assess()
        assert a.weight_pct == 100, a
        assert a.state is State.READY


def test_in_flight_near_capacity_lowers_weight_then_recovers_slowly() -> None:
    clock = Clock()
    m = OverloadMonitor(capacity=10, clock=clock)
    weights = []
    for _ in range(15):
        starts = [m.request_started() for _ in range(10)]
        clock.now += 1.0
        for s in starts:
            m.request_finished(s, 200)
        a = m.assess()
        weights.append(a.weight_pct)
    assert weights[-1] == 10
    assert m.assess().state is State.OVERLOADED
    assert "in flight" in m.assess().reason
    # Load stops: pressure falls by at most 0.1 per second, and "overloaded" is only
    # left below 0.7, so the reply does not flap back at once.
    recovery = []
    for _ in range(15):
        clock.now += 1.0
        recovery.append(m.assess())
    assert recovery[0].state is State.OVERLOADED
    assert recovery[-1].state is State.READY and recovery[-1].weight_pct == 100
    ws = [a.weight_pct for a in recovery]
    assert ws == sorted(ws), "recovery must be monotonic"


def test_latency_against_learned_baseline() -> None:
    clock = Clock()
    m = OverloadMonitor(clock=clock)
    for _ in range(20):
        _serve(m, clock, 30, 0.020)
        a = m.assess()
    assert a.weight_pct == 100 and a.baseline_p50 is not None
    assert abs(a.baseline_p50 - 0.020) < 0.002
    for _ in range(12):
        _serve(m, clock, 30, 0.120)
        a = m.assess()
    assert a.state is State.OVERLOADED
    assert a.worst is not None and a.worst.name.startswith("latency")
    # The baseline did not learn the overload.
    assert a.baseline_p50 is not None and a.baseline_p50 < 0.03


def test_error_ratio_goes_failing_and_holds() -> None:
    clock = Clock()
    m = OverloadMonitor(clock=clock)
    _serve(m, clock, 40, 0.01, status=503)
    a = m.assess()
    assert a.state is State.FAILING and a.weight_pct == 0
    assert "5xx" in a.reason
    line = agent_reply(a)
    assert line.startswith("down #") and line.endswith("\n") and line.count("\n") == 1
    # No traffic (the balancer took it out): the verdict holds for two windows.
    clock.now += 15
    assert m.assess().state is State.FAILING
    clock.now += 30
    assert m.assess().state is State.READY


def test_agent_reply_grammar() -> None:
    clock = Clock()
    m = OverloadMonitor(capacity=10, clock=clock, maxconn=40)
    a = m.assess()
    assert agent_reply(a) == "up 100% maxconn:40\n"
    assert agent_reply(a, say_ready=True) == "up ready 100% maxconn:40\n"
    parsed = parse_agent_reply(agent_reply(a))
    assert parsed == {"health": "up", "weight_pct": 100, "maxconn": 40}
    m.draining = True
    assert agent_reply(m.assess()) == "up drain\n"
    m.draining, m.maint = False, True
    assert agent_reply(m.assess()) == "maint\n"
    m.maint, m.failure = False, "db down,\r\nreally"
    line = agent_reply(m.assess())
    assert line == "down #db down, really\n"
    assert parse_agent_reply(line) == {"health": "down", "description": "db down, really"}


def test_listen_backlog_parsing() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000080:00000010 00:00000000 00000000\n"
        "   1: 0100007F:1F90 0200007F:C350 01 00000000:00000000 00:00000000 00000000\n"
        "   2: 0100007F:1F91 00000000:0000 0A 00000080:00000003 00:00000000 00000000\n"
    )
    got = signals.parse_listen_backlog(text, 0x1F90)
    assert got == signals.Backlog(queued=16)
    assert signals.parse_listen_backlog(text, 9999) is None


def test_real_proc_is_readable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(7)
        port = s.getsockname()[1]
        got = signals.read_listen_backlog(port)
        assert got is not None and got.queued == 0
        # Three connections the app has not accepted yet sit in the accept queue.
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        try:
            got = signals.read_listen_backlog(port)
            assert got is not None and got.queued == 3
        finally:
            for c in clients:
                c.close()
    assert "PassiveOpens" in signals.read_tcp_counters()
    cpu = signals.read_cpu_load()
    assert cpu is not None and cpu.cores == (os.cpu_count() or 1)
    fds = signals.read_fd_usage()
    assert fds is not None and 0 < fds.open < fds.limit
    if Path("/proc/pressure/memory").exists():
        assert signals.read_psi("memory") is not None


def test_psi_and_loadavg_parsing() -> None:
    assert signals.parse_psi("some avg10=12.50 avg60=1.00 avg300=0.00 total=5\n") == 12.5
    cpu = signals.parse_cpu_load("3.00 1.00 0.50 5/300 1234\n", cores=2)
    assert cpu == signals.CpuLoad(3.0, 5, 2)


def test_host_signals_vote() -> None:
    clock = Clock()
    # A tiny fd threshold makes this process's own descriptors count as overload.
    m = OverloadMonitor(
        clock=clock,
        host=HostSignals(fds=True),
        thresholds=Thresholds(fds=Threshold(0.0, 1e-9)),
    )
    a = m.assess()
    assert a.worst is not None and a.worst.name == "fds" and a.state is State.OVERLOADED


def test_status_pages() -> None:
    nginx = (
        "Active connections: 12 \nserver accepts handled requests\n 10 10 30 \n"
        "Reading: 1 Writing: 4 Waiting: 7 \n"
    )
    assert parse_status(nginx) is not None and parse_status(nginx).in_flight == 5  # type: ignore[union-attr]
    apache = "Total Accesses: 5\nBusyWorkers: 3\nIdleWorkers: 7\n"
    got = parse_status(apache)
    assert got is not None and (got.in_flight, got.capacity) == (3, 10)
    prom = (
        "# TYPE http_requests_in_flight gauge\n"
        'http_requests_in_flight{handler="a"} 2\nhttp_requests_in_flight{handler="b"} 3\n'
    )
    got = parse_status(prom)
    assert got is not None and got.in_flight == 5
    assert parse_status("hello") is None


def test_agent_says_ready_only_after_its_own_drain() -> None:
    from lbguard.health.agent import Agent

    agent = Agent(OverloadMonitor(clock=Clock()))
    # Never `ready` unprompted: it would cancel an operator's drain.
    assert agent.reply() == "up 100%\n"
    agent.monitor.draining = True
    assert agent.reply() == "up drain\n"
    agent.monitor.draining = False
    assert agent.reply() == "up ready 100%\n"


def test_agent_reply_with_unicode_digits_is_ignored_not_a_crash() -> None:
    """An agent is a network peer: '²%' or 'maxconn:٣' is no number HAProxy would read."""
    assert parse_agent_reply("\u00b2%, maxconn:\u0663 up\n") == {"health": "up"}
