"""`lbguard watch` against the real haproxy: incidents fire the right alert, and resolve."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from lbguard.watch.alerts import Alert
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import SocketStats
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from watch_e2e import Haproxy, Load, running_haproxy, until

pytestmark = pytest.mark.native
INTERVAL = 0.3
IMBALANCE = {"concentration", "share-deviation", "starvation"}


def daemon_for(box: Haproxy) -> tuple[Daemon, list[Alert]]:
    seen: list[Alert] = []
    engine = Engine("lb-test", f"unix:{box.socket}", config=ConfigFile(str(box.cfg)))
    daemon = Daemon([Watch(SocketStats(box.socket), engine)], INTERVAL, log=lambda line: None)
    daemon.on_alert.append(seen.append)
    return daemon, seen


def has(seen: list[Alert], kind: str, server: str, state: str = "firing") -> bool:
    return any(a.kind == kind and a.server == server and a.state == state for a in seen)


def test_drain_set_weight_and_bad_reload_each_fire_and_resolve(
    haproxy_bin: str, tmp_path: Path
) -> None:
    latency: dict[str, float] = {}

    async def scenario(box: Haproxy) -> list[Alert]:
        daemon, seen = daemon_for(box)
        async with daemon:
            await until(lambda: daemon.cycles >= 8, 20, "a balanced warm-up")
            assert not [a for a in seen if a.kind in IMBALANCE], seen

            # 1. Drained at runtime: drift on web-02, and nothing else.
            box.command("set server app/web-02 state drain")
            await until(lambda: has(seen, "weight-drift", "web-02"), 15, "drift on web-02")
            box.command("set server app/web-02 state ready")
            await until(lambda: has(seen, "weight-drift", "web-02", "resolved"), 15, "resolve")

            # 2. A weight changed at runtime: drift and the share it causes, on web-03.
            box.command("set weight app/web-03 6")
            await until(lambda: has(seen, "share-deviation", "web-03"), 15, "deviation web-03")
            await until(lambda: has(seen, "weight-drift", "web-03"), 10, "drift on web-03")
            box.command("set weight app/web-03 1")
            await until(lambda: has(seen, "share-deviation", "web-03", "resolved"), 20, "resolve")

            # 3. The outage: a config with every server but web-01 marked backup.
            started = time.monotonic()
            await asyncio.to_thread(box.reload, ("web-02", "web-03"))
            await until(lambda: has(seen, "concentration", "web-01"), 15, "concentration")
            latency["concentration"] = time.monotonic() - started
            await asyncio.to_thread(box.reload, ())
            await until(lambda: has(seen, "concentration", "web-01", "resolved"), 20, "resolve")
        return seen

    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=150, max_seconds=90):
        seen = asyncio.run(scenario(box))
    alert = next(a for a in seen if a.kind == "concentration")
    assert alert.server == "web-01" and float(alert.labels["observed_share"]) >= 0.9
    assert "weights say 33.3%" in alert.summary
    assert alert.runbook_url == "https://lbguard.dev/runbooks/concentration/"
    # The right server, only: nothing accused web-02 of imbalance in the drain phase.
    assert not any(a.kind in IMBALANCE and a.server == "web-02" for a in seen)
    print(f"detection latency after the bad reload: {latency['concentration']:.1f} s")
    assert latency["concentration"] < 10


def test_balanced_noisy_run_raises_no_imbalance_alert(haproxy_bin: str, tmp_path: Path) -> None:
    async def scenario(box: Haproxy) -> tuple[list[Alert], int]:
        daemon, seen = daemon_for(box)
        async with daemon:
            await until(lambda: daemon.cycles >= 25, 30, "25 polls")
        return seen, daemon.cycles

    with (
        running_haproxy(haproxy_bin, tmp_path) as box,
        Load(box.port, rate=120, jitter=0.9, max_seconds=40) as load,
    ):
        seen, cycles = asyncio.run(scenario(box))
    assert load.sent > 300 and cycles >= 25
    assert seen == []
