"""`lbguard watch --probe`: probe verdicts feed detection, so nginx open source (no active
checks) gets overload alerts too; and a server the probe finds down is DOWN to detection."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from lbguard.health.probe import ProbeReport, ServerResult
from lbguard.sandbox.haproxy_box import free_port
from lbguard.watch.alerts import Alert
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.nginx_log import NginxLog
from lbguard.watch.collectors.probe import Probing, merge
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from test_cli import lbguard
from watch_e2e import Nginx, running_nginx, until
from watch_helpers import pool, snapshot


def overloads(seen: list[Alert], state: str = "firing") -> list[Alert]:
    return [a for a in seen if a.kind == "overload" and a.state == state]


@pytest.mark.native
def test_a_slow_server_behind_nginx_raises_overload_and_resolves(
    nginx_bin: str, tmp_path: Path
) -> None:
    """No client traffic at all: only the probes can see web-02 slow down."""

    async def scenario(box: Nginx) -> tuple[list[Alert], Probing]:
        seen: list[Alert] = []
        config = ConfigFile(str(box.cfg))
        probing = Probing(NginxLog(str(box.log), config), config, timeout=2.0, path="/healthz")
        engine = Engine("nginx-test", probing.source, config=config, drift=False)
        engine.signals.append(probing.conditions)
        daemon = Daemon([Watch(probing, engine)], 0.3, log=lambda line: None)
        daemon.on_alert.append(seen.append)
        slow = box.stub("web-02")
        async with daemon:
            await until(lambda: probing.rounds >= 6, 20, "the probes' baselines")
            assert overloads(seen) == []
            for latency in (0.01, 0.05, 0.15, 0.3):  # web-02 slows down, step by step
                slow.latency = latency
                target = probing.rounds + 2
                await until(lambda t=target: probing.rounds >= t, 10, "two probe rounds")
            await until(lambda: bool(overloads(seen)), 10, "the overload alert")
            slow.latency = 0.0
            recovery = await until(lambda: bool(overloads(seen, "resolved")), 15, "the resolve")
            print(f"probe: overload resolved {recovery:.1f} s after recovery (polls 0.3 s)")
        return seen, probing

    with running_nginx(nginx_bin, tmp_path) as box:
        seen, probing = asyncio.run(scenario(box))
        web02 = box.address("web-02")
    first = overloads(seen)[0]
    assert first.server == web02 and first.pool == "app"
    assert "probe check took" in first.summary and "its baseline" in first.summary
    assert first.labels["signal"] == "probe-latency"
    assert overloads(seen, "resolved")[0].fingerprint == first.fingerprint
    assert probing.report is not None and not probing.report.problems


def _report(*results: tuple[str, str]) -> ProbeReport:
    return ProbeReport(
        [ServerResult("app", name, "127.0.0.1:1", status, reason="connect failed")
         for name, status in results]
    )  # fmt: skip


def test_merge_marks_probed_down_servers_down_only_where_the_balancer_does_not_check() -> None:
    base = pool("app", {"a": 5, "b": 5, "c": 5}, status={"c": "no check"})
    servers = tuple(replace(s, check_status="L7OK") if s.name == "b" else s for s in base.servers)
    snap = snapshot(1.0, replace(base, servers=servers))
    merged = merge(snap, _report(("a", "down"), ("b", "down"), ("c", "down")))
    status = {s.name: s.status for s in merged.pools["app"].servers}
    # a (nginx-like, no check of its own) and c (HAProxy "no check") follow the probe;
    # b is checked by the balancer itself, whose verdict is what routes traffic.
    assert status == {"a": "DOWN", "b": "UP", "c": "DOWN"}
    assert merged.pools["app"].server("a").check_status == "probe: connect failed"  # type: ignore[union-attr]
    # Nothing down: the very same snapshot.
    assert merge(snap, _report(("a", "up"), ("b", "overloaded"))) is snap


@pytest.mark.native
def test_probe_from_the_command_line_marks_a_dead_server_down(
    nginx_bin: str, tmp_path: Path
) -> None:
    with running_nginx(nginx_bin, tmp_path) as box:
        # web-03's stub goes away: nginx open source would not notice without traffic.
        dead = f"127.0.0.1:{free_port()}"
        box.cfg.write_text(box.cfg.read_text().replace(box.address("web-03"), dead))
        proc = lbguard(
            "watch",
            "--nginx-log",
            str(box.log),
            "--lb-config",
            str(box.cfg),
            "--probe",
            "--probe-path",
            "/healthz",
            "--once",
            "--interval",
            "0.3",
            "--format",
            "json",
        )
        alive = (box.address("web-01"), box.address("web-02"))
    assert proc.returncode == 0, proc.stderr
    (app,) = json.loads(proc.stdout)["pools"]
    status = {s["name"]: s["status"] for s in app["servers"]}
    assert status == {alive[0]: "UP", alive[1]: "UP", dead: "DOWN"}
