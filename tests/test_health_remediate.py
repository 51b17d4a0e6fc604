"""Remediation: the pure policy's safety rules, then the executor against a real haproxy
runtime API with every action recorded in a real store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from health_helpers import HAProxy, free_port, haproxy_config, show_stat, wait_for
from lbguard.errors import LbguardError
from lbguard.haproxy_runtime import PoolState, RuntimeClient, ServerState
from lbguard.health.remediate import Action, Executor, Panic, PanicAlert, Refusal, Remediator
from lbguard.sandbox.stubs import StubFarm, StubServer
from lbguard.store import open_store


@dataclass(frozen=True)
class Alert:
    """The attributes of lbguard.watch.alerts.Alert that remediation reads."""

    kind: str
    pool: str | None
    server: str | None
    state: str = "firing"
    summary: str = "web takes 61% of traffic for a weight share of 33%"
    severity: str = "warning"
    balancer: str = "lb-1"
    starts_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    ends_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}/{self.pool}/{self.server}"

    def resolved(self) -> Alert:
        return Alert(self.kind, self.pool, self.server, state="resolved", summary="cleared")


def pool(n: int, down: tuple[str, ...] = (), name: str = "app") -> PoolState:
    return PoolState(
        name,
        tuple(
            ServerState(f"web{i}", "DOWN" if f"web{i}" in down else "UP", 100, 100)
            for i in range(1, n + 1)
        ),
    )


def commands(outcomes: list[object]) -> list[str]:
    return [o.command for o in outcomes if isinstance(o, Action)]


# ---------------------------------------------------------------- the pure policy


def test_imbalance_drains_the_named_server_and_undoes_it() -> None:
    policy = Remediator()
    alert = Alert("imbalance", "app", "web2")
    assert commands(policy.on_alert(alert, pool(3))) == ["set server app/web2 state drain"]
    # The same alert again does nothing more.
    assert policy.on_alert(alert, pool(3)) == []
    assert commands(policy.on_alert(alert.resolved(), pool(3))) == [
        "set server app/web2 state ready"
    ]


def test_overload_halves_the_weight_and_restores_it() -> None:
    policy = Remediator()
    alert = Alert("overload", "app", "web1")
    assert commands(policy.on_alert(alert, pool(3))) == ["set server app/web1 weight 50"]
    assert commands(policy.on_alert(alert.resolved(), pool(3))) == [
        "set server app/web1 weight 100"
    ]


def test_at_most_a_fraction_of_the_pool_at_once() -> None:
    policy = Remediator()
    small = pool(5)
    assert policy.limit(small) == 1
    assert commands(policy.on_alert(Alert("imbalance", "app", "web1"), small))
    second = policy.on_alert(Alert("imbalance", "app", "web2"), small)
    assert [type(o) for o in second] == [Refusal]
    assert "at most 1" in second[0].why  # type: ignore[union-attr]
    big = pool(20)
    policy = Remediator()
    assert policy.limit(big) == 2
    acted = [
        commands(policy.on_alert(Alert("imbalance", "app", f"web{i}"), big)) for i in (1, 2, 3)
    ]
    assert [bool(a) for a in acted] == [True, True, False]


def test_never_down_weights_the_last_active_server() -> None:
    # Weights are relative: the only server taking traffic keeps all of it anyway.
    policy = Remediator(max_fraction=1.0, panic_threshold=1.0)
    outcomes = policy.on_alert(Alert("overload", "app", "web2"), pool(2, down=("web1",)))
    assert [type(o) for o in outcomes] == [Refusal]
    assert "last active" in outcomes[0].why  # type: ignore[union-attr]
    # With a peer to take the difference, the weight is halved.
    outcomes = Remediator().on_alert(Alert("overload", "app", "web2"), pool(2))
    assert commands(outcomes) == ["set server app/web2 weight 50"]


def test_never_drains_the_last_active_server() -> None:
    # A panic threshold of 100% can never be exceeded: only the last-server rule acts.
    policy = Remediator(max_fraction=1.0, panic_threshold=1.0)
    outcomes = policy.on_alert(Alert("imbalance", "app", "web2"), pool(2, down=("web1",)))
    assert [type(o) for o in outcomes] == [Refusal]
    assert "last active" in outcomes[0].why  # type: ignore[union-attr]
    # Nor the last one left after its own earlier drains.
    policy = Remediator(max_fraction=1.0, panic_threshold=1.0)
    assert commands(policy.on_alert(Alert("imbalance", "app", "web1"), pool(2)))
    outcomes = policy.on_alert(Alert("imbalance", "app", "web2"), pool(2))
    assert not commands(outcomes) and "last active" in outcomes[-1].why  # type: ignore[union-attr]


def test_leaves_a_server_with_an_agent_check_to_its_agent() -> None:
    agented = PoolState(
        "app",
        (ServerState("web1", "UP", 100, 100, agent=True), ServerState("web2", "UP", 100, 100)),
    )
    policy = Remediator(max_fraction=1.0, panic_threshold=1.0)
    for kind in ("overload", "imbalance"):  # a weight and a drain
        outcomes = policy.on_alert(Alert(kind, "app", "web1"), agented)
        assert [type(o) for o in outcomes] == [Refusal]
        assert "agent-check" in outcomes[0].why  # type: ignore[union-attr]
    assert commands(policy.on_alert(Alert("overload", "app", "web2"), agented)) == [
        "set server app/web2 weight 50"
    ]


def test_panic_stops_undoes_and_resumes() -> None:
    policy = Remediator(max_fraction=0.5)
    four = pool(4)
    assert commands(policy.on_alert(Alert("imbalance", "app", "web1"), four)) == [
        "set server app/web1 state drain"
    ]
    # Two of four look unhealthy: 50% is not more than half, so it still acts.
    assert commands(policy.on_alert(Alert("overload", "app", "web2"), four)) == [
        "set server app/web2 weight 50"
    ]
    out = policy.on_alert(Alert("overload", "app", "web3"), four)
    panics = [o for o in out if isinstance(o, Panic)]
    assert len(panics) == 1 and not panics[0].cleared
    assert panics[0].unhealthy == ("web1", "web2", "web3")
    # Its own actions are undone so traffic spreads over every server again.
    assert sorted(commands(out)) == [
        "set server app/web1 state ready",
        "set server app/web2 weight 100",
    ]
    # While in panic, nothing is done in that pool.
    held = policy.on_alert(Alert("imbalance", "app", "web4"), four)
    assert commands(held) == [] and isinstance(held[-1], Refusal)
    out = policy.on_alert(Alert("overload", "app", "web2").resolved(), four)
    assert not any(isinstance(o, Panic) for o in out)  # 3 of 4 still firing
    out = policy.on_alert(Alert("overload", "app", "web3").resolved(), four)
    assert [o.cleared for o in out if isinstance(o, Panic)] == [True]
    # Back to normal: it acts again.
    policy.on_alert(Alert("imbalance", "app", "web4").resolved(), four)
    assert commands(policy.on_alert(Alert("overload", "app", "web2"), four)) == [
        "set server app/web2 weight 50"
    ]


def test_unknown_kinds_and_pool_alerts_do_nothing() -> None:
    policy = Remediator()
    assert policy.on_alert(Alert("config-drift", "app", "web1"), pool(3)) == []
    out = policy.on_alert(Alert("imbalance", "app", None), pool(3))
    assert [type(o) for o in out] == [Refusal]


# ---------------------------------------------------------- the real runtime API


@pytest.fixture
def lb(haproxy_bin: str, tmp_path: Path) -> Iterator[tuple[RuntimeClient, Path]]:
    ports = {
        name: free_port() for name in ("web1", "web2", "web3", "web4", "solo1", "solo2", "solo3")
    }
    farm = StubFarm([StubServer(n, p) for n, p in ports.items()])
    farm.start()
    dead = free_port()  # nothing listens there: solo4 is DOWN
    front = free_port()
    sock = tmp_path / "admin.sock"
    app = "\n".join(
        f"    server {n} 127.0.0.1:{ports[n]} check inter 200ms"
        for n in ("web1", "web2", "web3", "web4")
    )
    haproxy = HAProxy(
        haproxy_bin,
        haproxy_config(
            sock,
            "5s",
            f"""frontend fe
    bind 127.0.0.1:{front}
    default_backend app
backend app
{app}
backend solo
    server solo1 127.0.0.1:{ports["solo1"]} check inter 200ms
    server solo2 127.0.0.1:{ports["solo2"]} check inter 200ms weight 0
    server solo3 127.0.0.1:{ports["solo3"]} check inter 200ms backup
    server solo4 127.0.0.1:{dead} check inter 200ms fall 1
backend agented
    server ag1 127.0.0.1:{ports["web1"]} check inter 200ms agent-check agent-port {dead}
    server ag2 127.0.0.1:{ports["web2"]} check inter 200ms weight 3
""",
        ),
        tmp_path,
    )
    haproxy.start(front)
    try:
        api = RuntimeClient(str(sock))
        wait_for(sock.exists, 10)  # haproxy may listen before its stats socket exists
        wait_for(lambda: show_stat(str(sock), "solo")["solo4"]["status"].startswith("DOWN"), 10)
        wait_for(lambda: all(r["status"] == "UP" for r in show_stat(str(sock), "app").values()), 10)
        yield api, tmp_path
    finally:
        haproxy.stop()
        farm.stop()


def _status(api: RuntimeClient, backend: str, server: str) -> str:
    s = api.pool_state(backend).server(server)
    assert s is not None
    return s.status


@pytest.mark.native
def test_executor_dry_run_then_real_drain_recorded_and_undone(
    lb: tuple[RuntimeClient, Path],
) -> None:
    api, tmp = lb
    printed: list[str] = []
    with open_store(f"sqlite:///{tmp / 'store.db'}") as store:
        dry = Executor(api, Remediator(), trail=store, echo=printed.append)
        dry.on_alert(Alert("imbalance", "app", "web2"))
        assert printed == ["remediate: dry-run, would send: set server app/web2 state drain"]
        assert _status(api, "app", "web2") == "UP"

        real = Executor(api, Remediator(), trail=store, dry_run=False, echo=printed.append)
        alert = Alert("imbalance", "app", "web2")
        real.on_alert(alert)
        assert _status(api, "app", "web2") == "DRAIN"
        assert _status(api, "app", "web1") == "UP"
        real.on_alert(alert.resolved())
        assert _status(api, "app", "web2") == "UP"

        actions = list(store.records(kinds=["action"]))
        assert [(r.subject, r.body["what"], r.body["dry_run"]) for r in actions] == [
            ("app/web2", "drain", True),
            ("app/web2", "drain", False),
            ("app/web2", "ready", False),
        ]
        assert all(r.body["who"] == "lbguard watch --remediate" for r in actions)
        assert actions[1].body["command"] == "set server app/web2 state drain"
        assert "61%" in actions[1].body["why"]
        assert store.verify().ok


@pytest.mark.native
def test_executor_refuses_the_last_server_and_stops_at_panic(
    lb: tuple[RuntimeClient, Path],
) -> None:
    api, tmp = lb
    raised: list[PanicAlert] = []
    with open_store(f"sqlite:///{tmp / 'store.db'}") as store:
        ex = Executor(
            api,
            Remediator(max_fraction=0.5),
            trail=store,
            dry_run=False,
            echo=lambda _: None,
            alert_sink=raised.append,
        )
        # solo4 is down, solo2 has weight 0 and solo3 is a backup: solo1 is the last
        # active server of 'solo', and 2 of 4 unhealthy is not yet a panic.
        out = ex.on_alert(Alert("imbalance", "solo", "solo1"))
        assert [type(o) for o in out] == [Refusal]
        assert _status(api, "solo", "solo1") == "UP"

        ex.on_alert(Alert("imbalance", "app", "web1"))
        assert _status(api, "app", "web1") == "DRAIN"
        ex.on_alert(Alert("overload", "app", "web2"))
        out = ex.on_alert(Alert("overload", "app", "web3"))
        assert any(isinstance(o, Panic) for o in out)
        # Panic: web1's drain is undone, and nothing else was touched.
        assert _status(api, "app", "web1") == "UP"
        weights = {s.name: s.weight for s in api.pool_state("app").servers}
        assert weights == {"web1": 1, "web2": 1, "web3": 1, "web4": 1}
        assert raised and raised[0].state == "firing" and raised[0].pool == "app"
        assert raised[0].kind == "remediation-panic"
        whats = [r.body["what"] for r in store.records(kinds=["action"])]
        assert whats.count("refused") >= 1 and "panic-stop" in whats
        assert store.verify().ok


@pytest.mark.native
def test_runtime_api_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(LbguardError, match="no such socket; is HAProxy running"):
        RuntimeClient(str(tmp_path / "missing.sock")).show_stat()


def test_an_unreachable_runtime_api_is_recorded_not_raised(tmp_path: Path) -> None:
    printed: list[str] = []
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        ex = Executor(
            RuntimeClient(str(tmp_path / "missing.sock")),
            trail=store,
            dry_run=False,
            echo=printed.append,
        )
        assert ex.on_alert(Alert("imbalance", "app", "web2")) == []
        [record] = list(store.records(kinds=["action"]))
    assert record.body["what"] == "error" and "no such socket" in record.body["why"]
    assert printed and printed[0].startswith("remediate: cannot act on app:")


@pytest.mark.native
def test_the_runtime_api_tells_which_servers_have_an_agent(
    lb: tuple[RuntimeClient, Path],
) -> None:
    api, _ = lb
    state = api.pool_state("agented")
    assert {s.name: (s.agent, s.initial_weight) for s in state.servers} == {
        "ag1": (True, 1),
        "ag2": (False, 3),
    }
    assert not any(s.agent for s in api.pool_state("app").servers)
    printed: list[str] = []
    ex = Executor(api, Remediator(max_fraction=1.0), dry_run=False, echo=printed.append)
    ex.on_alert(Alert("overload", "agented", "ag1"))
    ag1 = api.pool_state("agented").server("ag1")
    assert ag1 is not None and ag1.weight == 1  # untouched
    assert len(printed) == 1 and "refused on agented/ag1: it has an agent-check" in printed[0]
