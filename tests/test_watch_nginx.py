"""`lbguard watch --nginx-log`: the same incident, seen through nginx's access log."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from lbguard.watch.alerts import Alert
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.nginx_log import NginxLog
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from watch_e2e import Load, Nginx, running_nginx, until

pytestmark = pytest.mark.native


def test_bad_reload_through_the_access_log_fires_and_resolves(
    nginx_bin: str, tmp_path: Path
) -> None:
    async def scenario(box: Nginx) -> tuple[list[Alert], float, NginxLog]:
        seen: list[Alert] = []
        config = ConfigFile(str(box.cfg))
        collector = NginxLog(str(box.log), config)
        engine = Engine("nginx-test", collector.source, config=config, drift=False)
        daemon = Daemon([Watch(collector, engine)], 0.3, log=lambda line: None)
        daemon.on_alert.append(seen.append)
        async with daemon:
            await until(lambda: daemon.cycles >= 6 and collector.lines > 150, 20, "warm-up")
            # logrotate: move the file away, nginx reopens on USR1; nothing is lost.
            os.rename(box.log, str(box.log) + ".1")
            box.reopen_logs()
            counted = collector.lines
            await until(lambda: collector.lines > counted + 100, 15, "lines after rotation")
            assert seen == []
            started = time.monotonic()
            box.reload(backup=("web-02", "web-03"))
            web01 = box.address("web-01")

            def fired() -> bool:
                return any(a.kind == "concentration" and a.server == web01 for a in seen)

            await until(fired, 20, "concentration on web-01")
            latency = time.monotonic() - started
            box.reload()
            await until(
                lambda: any(a.kind == "concentration" and a.state == "resolved" for a in seen),
                20,
                "the resolve",
            )
        return seen, latency, collector

    with running_nginx(nginx_bin, tmp_path) as box, Load(box.port, rate=120, max_seconds=60):
        seen, latency, collector = asyncio.run(scenario(box))
    alert = next(a for a in seen if a.kind == "concentration")
    assert float(alert.labels["observed_share"]) >= 0.9
    assert "weights say 33.3%" in alert.summary
    assert collector.unmatched == 0
    print(f"nginx: concentration detected {latency:.1f} s after the reload")
    assert latency < 15
