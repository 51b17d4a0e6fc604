"""The staged incident with the real `lbguard watch`: real HAProxy under bounded loopback
load, watch recording its alerts in the store, a bad deploy marked and reloaded, the fix,
the resolve; the postmortem's windows must match what watch and the deploys recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lbguard.audit.durations import human
from lbguard.cli import main
from lbguard.store import TrailRecord, open_store
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import SocketStats
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from watch_e2e import Haproxy, Load, running_haproxy, until

pytestmark = pytest.mark.native


def _lbg(store: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"LBGUARD_STORE": store})


def _alerts(url: str, state: str) -> list[TrailRecord]:
    with open_store(url) as s:
        return [
            r
            for r in s.records(kinds=["alert"])
            if r.body["kind"] == "concentration" and r.body["state"] == state
        ]


def test_postmortem_of_an_incident_that_watch_caught(haproxy_bin: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lbguard.db'}"

    async def scenario(box: Haproxy) -> None:
        cfg = str(box.cfg)
        approved = await asyncio.to_thread(
            _lbg, url, "baseline", "approve", "--no-native", "--note", "r41", cfg
        )
        assert approved.exit_code == 0, approved.output
        with open_store(url) as store:
            engine = Engine("lb-test", f"unix:{box.socket}", config=ConfigFile(cfg))
            daemon = Daemon(
                [Watch(SocketStats(box.socket), engine)], 0.3, store=store, log=lambda _: None
            )
            async with daemon:
                await until(lambda: daemon.cycles >= 8, 20, "a balanced warm-up")
                assert _alerts(url, "firing") == []
                # The bad deploy: every server but web-01 left as backup.
                await asyncio.to_thread(box.reload, ("web-02", "web-03"))
                mark = await asyncio.to_thread(
                    _lbg, url, "trail", "mark", "deploy", "--note", "release 42", "--config", cfg
                )
                assert "2 drift changes" in mark.output, mark.output
                await until(lambda: bool(_alerts(url, "firing")), 20, "watch to fire")
                # The fix.
                await asyncio.to_thread(box.reload, ())
                await asyncio.to_thread(
                    _lbg, url, "trail", "mark", "deploy", "--note", "revert 42", "--config", cfg
                )
                await until(lambda: bool(_alerts(url, "resolved")), 30, "watch to resolve")

    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=150, max_seconds=90):
        asyncio.run(scenario(box))

    with open_store(url) as s:
        assert s.verify().ok
        deploys = list(s.records(kinds=["deploy"]))
    bad_deploy = deploys[0]
    firing = _alerts(url, "firing")[0]
    resolved = _alerts(url, "resolved")[-1]
    assert firing.body["server"] == "web-01" and firing.body["pool"] == "app"
    assert bad_deploy.at < firing.at < deploys[1].at < resolved.at

    text = _lbg(url, "postmortem", "--since", "1h").output
    summary = text.split("## Timeline")[0]
    assert f"#{bad_deploy.seq} deploy: release 42" in summary
    assert f"**Detection time**: {human(firing.at - bad_deploy.at)}" in summary
    assert f"**Time to resolution**: {human(resolved.at - bad_deploy.at)} from" in summary
    assert firing.body["summary"] in text.split("\n")[0]  # the title is watch's own words
    change = text.split("## The change that preceded it")[1]
    assert "server web-02: backup no -> yes; moves 33.3% of the pool's traffic" in change
    assert "| web-01 | 33.3% | 100.0% |" in change
