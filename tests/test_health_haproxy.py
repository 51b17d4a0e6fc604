"""The closed loop with the real haproxy: agents lower an overloaded server's weight,
HAProxy obeys, traffic moves away, and it all comes back; a failing server goes down
with its reason in HAProxy's own stats."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from health_helpers import (
    Backend,
    HAProxy,
    Load,
    LoopThread,
    free_port,
    haproxy_config,
    runtime,
    shares,
    show_stat,
    wait_for,
)
from lbguard.health.overload import OverloadMonitor, Thresholds

pytestmark = pytest.mark.native

# Shorter windows than the defaults, so a test takes seconds, not minutes.
FAST = Thresholds(window_seconds=3.0, min_requests=10, release_per_second=0.3)


class Farm:
    def __init__(self, haproxy_bin: str, tmp: Path) -> None:
        self.loop = LoopThread()
        self.backends = [
            Backend(f"web{i}", OverloadMonitor(capacity=4, thresholds=FAST)) for i in (1, 2, 3)
        ]
        for b in self.backends:
            self.loop.run(b.start())
        self.port = free_port()
        self.sock = str(tmp / "admin.sock")
        servers = "\n".join(
            f"    server {b.name} 127.0.0.1:{b.port} weight 100 check inter 5s "
            f"agent-check agent-port {b.agent_port} agent-inter 300ms"
            for b in self.backends
        )
        self.haproxy = HAProxy(
            haproxy_bin,
            haproxy_config(
                self.sock,
                "20s",
                f"""frontend fe
    bind 127.0.0.1:{self.port}
    default_backend app
backend app
    balance roundrobin
{servers}
""",
            ),
            tmp,
        )
        self.haproxy.start(self.port)

    def stop(self) -> None:
        self.haproxy.stop()
        for b in self.backends:
            self.loop.run(b.stop())
        self.loop.stop()

    def weight(self, name: str) -> int:
        return int(show_stat(self.sock, "app")[name]["weight"])


@pytest.fixture
def farm(haproxy_bin: str, tmp_path: Path) -> Iterator[Farm]:
    f = Farm(haproxy_bin, tmp_path)
    try:
        yield f
    finally:
        f.stop()


def test_overloaded_server_loses_weight_and_traffic_then_recovers(farm: Farm) -> None:
    web2 = farm.backends[1]
    load = Load(farm.port, clients=6, max_requests=30_000).start()
    try:
        # Warm-up: every server fast; baselines are learned and weights stay full.
        wait_for(lambda: all(b.monitor.assess().baseline_p50 for b in farm.backends), 20)
        before = load.snapshot()
        wait_for(lambda: sum((load.snapshot() - before).values()) >= 300, 20)
        even = shares(before, load.snapshot())
        assert all(farm.weight(b.name) == 100 for b in farm.backends)
        assert abs(even["web2"] - 1 / 3) < 0.1, even

        # web2 slows down: its requests queue behind its 4 workers.
        web2.latency = 0.15
        wait_for(lambda: farm.weight("web2") <= 50, 25)
        assert web2.agent is not None and web2.agent.assess().weight_pct <= 50
        assert farm.weight("web1") == 100 and farm.weight("web3") == 100
        before = load.snapshot()
        wait_for(lambda: sum((load.snapshot() - before).values()) >= 300, 30)
        skewed = shares(before, load.snapshot())
        assert skewed.get("web2", 0.0) < even["web2"] / 2, (even, skewed)

        # It recovers: fast again, the weight climbs back to 100% and traffic returns.
        web2.latency = 0.005
        wait_for(lambda: farm.weight("web2") == 100, 40)
        before = load.snapshot()
        wait_for(lambda: sum((load.snapshot() - before).values()) >= 300, 20)
        back = shares(before, load.snapshot())
        assert abs(back["web2"] - 1 / 3) < 0.12, back
    finally:
        load.stop()
    assert load.errors == 0


def test_failing_server_goes_down_with_its_reason(farm: Farm) -> None:
    web3 = farm.backends[2]
    web3.status = 503
    load = Load(farm.port, clients=4, max_requests=5_000).start()
    try:
        row = wait_for(
            lambda: (r := show_stat(farm.sock, "app")["web3"])["status"].startswith("DOWN") and r,
            20,
        )
    finally:
        load.stop()
    assert web3.agent is not None
    assert web3.agent.reply().startswith("down #")
    # HAProxy keeps the agent's own words: in show stat's agent fields...
    agent_text = " ".join(row[k] for k in ("last_agt", "agent_desc", "agent_status"))
    assert "5xx" in agent_text, row
    # ... and the server is down in show servers state (operational state 0).
    state = runtime(farm.sock, "show servers state app")
    line = next(x for x in state.splitlines() if " web3 " in x)
    assert line.split()[5] == "0", line
    assert show_stat(farm.sock, "app")["web1"]["status"].startswith("UP")


def test_agent_up_does_not_revive_a_server_failing_its_own_check(
    haproxy_bin: str, tmp_path: Path
) -> None:
    """`up` means "up if the health checks agree": the agent can lower or stop traffic,
    but never overrule HAProxy's own HTTP check."""
    loop = LoopThread()
    # Its agent's monitor is separate from the app, so the agent keeps saying up.
    bad = Backend("bad", OverloadMonitor(), status=503)
    loop.run(bad.start())
    agent_only = Backend("agent", OverloadMonitor())
    loop.run(agent_only.start())
    port = free_port()
    sock = str(tmp_path / "admin.sock")
    agent = f"agent-check agent-port {agent_only.agent_port} agent-inter 200ms"
    haproxy = HAProxy(
        haproxy_bin,
        haproxy_config(
            sock,
            "5s",
            f"""listen fe
    bind 127.0.0.1:{port}
    option httpchk GET /
    server bad 127.0.0.1:{bad.port} check inter 200ms fall 2 rise 2 {agent}
""",
        ),
        tmp_path,
    )
    haproxy.start(port)
    try:
        wait_for(lambda: "via agent : up" in show_stat(sock, "fe")["bad"]["last_agt"], 10)
        for _ in range(10):
            assert show_stat(sock, "fe")["bad"]["status"].startswith("DOWN")
            time.sleep(0.2)
    finally:
        haproxy.stop()
        loop.run(bad.stop())
        loop.run(agent_only.stop())
        loop.stop()
    assert agent_only.agent is not None and agent_only.agent.reply().startswith("up ")
