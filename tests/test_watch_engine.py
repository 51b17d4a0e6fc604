"""Expected shares from the model, and the daemon's promises: hooks, trail, refresh, restart."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lbguard.model import Dialect
from lbguard.parsers.haproxy import parse_haproxy
from lbguard.store import open_store
from lbguard.watch.alerts import Alert
from lbguard.watch.collectors import CollectorError
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.detect import State, Thresholds, evaluate
from lbguard.watch.engine import Engine
from lbguard.watch.expected import CONCURRENCY, HASH, expect
from lbguard.watch.snapshot import Snapshot, interval
from watch_helpers import pool, snapshot

NOW = datetime.now(UTC)

HASHED = """defaults
    mode http
backend app
    balance source
    server a 10.0.0.1:80 weight 1
    server b 10.0.0.2:80 weight 1
    server c 10.0.0.3:80 weight 2
backend lc
    balance leastconn
    server a 10.0.0.1:80
    server b 10.0.0.2:80
"""


def test_hash_pools_use_the_simulator_and_alarm_only_on_concentration(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HASHED)
    model = parse_haproxy([str(cfg)]).config.pool("app")
    assert model is not None
    sample = pool("app", {"a": 0, "b": 0, "c": 0}, weight={"c": 2}, algorithm="source")
    exp = expect(sample, model, Dialect.HAPROXY)
    assert exp.mode == HASH
    from lbguard.simulate.predict import predict

    assert exp.shares == predict(model, Dialect.HAPROXY).predicted
    # A skewed but not concentrated spread is what hashing does: no alarm.
    before = snapshot(0.0, sample)
    after = snapshot(1.0, pool("app", {"a": 300, "b": 100, "c": 200}, algorithm="source"))
    result = evaluate(State(), interval(before, after), {"app": exp})
    assert result.conditions == []
    # Everything on one server while three are UP is still concentration.
    after = snapshot(1.0, pool("app", {"a": 0, "b": 0, "c": 600}, algorithm="source"))
    result = evaluate(State(), interval(before, after), {"app": exp})
    assert [(c.kind, c.server) for c in result.conditions] == [("concentration", "c")]


def test_leastconn_is_judged_on_concurrency(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HASHED)
    model = parse_haproxy([str(cfg)]).config.pool("lc")
    before = snapshot(0.0, pool("lc", {"a": 0, "b": 0}, algorithm="leastconn"))
    even = pool("lc", {"a": 60, "b": 60}, algorithm="leastconn", scur={"a": 15, "b": 14})
    exp = expect(even, model, Dialect.HAPROXY)
    assert exp.mode == CONCURRENCY
    assert evaluate(State(), interval(before, snapshot(1.0, even)), {"lc": exp}).conditions == []
    stuck = pool("lc", {"a": 60, "b": 60}, algorithm="leastconn", scur={"a": 40, "b": 2})
    result = evaluate(State(), interval(before, snapshot(1.0, stuck)), {"lc": exp})
    assert [(c.kind, c.server) for c in result.conditions] == [("share-deviation", "a")]
    assert "holds 40 of lc's 42 connections" in result.conditions[0].summary


def test_slowstart_throttle_scales_the_expected_share() -> None:
    sample = pool("app", {"a": 0, "b": 0}, throttle={"b": 50})
    assert expect(sample).shares == {"a": 2 / 3, "b": 1 / 3}


class Replay:
    """A collector over recorded snapshots (an error string stands for a failed poll)."""

    source = "replay:test"

    def __init__(self, snapshots: list[Snapshot | str]) -> None:
        self.snapshots = snapshots
        self.polls = 0

    async def collect(self) -> Snapshot:
        item = self.snapshots[min(self.polls, len(self.snapshots) - 1)]
        self.polls += 1
        if item == "bug":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        if isinstance(item, str):
            raise CollectorError(item)
        return item

    async def close(self) -> None:
        return None


class Recorder:
    refresh = True

    def __init__(self) -> None:
        self.name = "recorder"
        self.sent: list[Mapping[str, Any]] = []

    async def send(self, alert: Mapping[str, Any]) -> None:
        self.sent.append(alert)

    async def close(self) -> None:
        return None


def _concentrated() -> list[Snapshot | str]:
    out: list[Snapshot | str] = []
    for i in range(6):
        n = 200 * i
        out.append(snapshot(float(i), pool("app", {"a": n, "b": 0, "c": 0})))
    return out


def test_hooks_trail_refresh_and_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seen: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("remediation is down")

    async def run(snaps: list[Snapshot | str], cycles: int, receiver: Recorder) -> Daemon:
        engine = Engine("lb", "replay:test", thresholds=Thresholds(blind_polls=2))
        logs: list[str] = []
        daemon = Daemon(
            [Watch(Replay(snaps), engine)], 0.01, open_store(url), [receiver], log=logs.append
        )
        daemon.on_alert.extend([broken, seen.append])
        daemon.refresh_every = 0.0
        for _ in range(cycles):
            await daemon.cycle()
        assert any("remediation is down" in line for line in logs) or not seen
        return daemon

    first = Recorder()
    daemon = asyncio.run(run(_concentrated(), 6, first))
    assert [(a.kind, a.server, a.state) for a in seen] == [("concentration", "a", "firing")]
    # Re-sent, while firing, to receivers that forget (Alertmanager), every cycle here.
    kinds = [a["kind"] for a in first.sent]
    assert len(kinds) >= 2 and set(kinds) == {"concentration"}
    assert daemon.store is not None and daemon.store.outbox.pending_count("recorder") == 1
    trail = [r.body for r in open_store(url).records(kinds=["alert"])]
    assert [(b["kind"], b["state"], b["server"]) for b in trail] == [
        ("concentration", "firing", "a")
    ]
    # Restart: still concentrated, so nothing new fires; then the source fails -> blind.
    seen.clear()
    again = Recorder()
    asyncio.run(run([*_concentrated()[-2:], "refused", "refused", "refused"], 5, again))
    assert [(a.kind, a.state) for a in seen] == [("blind", "firing")]
    assert open_store(url).verify().ok


PRIMARY_REPLICA = """defaults
    mode tcp
backend mysql
    # lbguard: ignore=LBG101 primary/replica by design
    server db-01 10.0.0.1:3306 check
    server db-02 10.0.0.2:3306 check backup
backend app
    server web-01 10.0.1.1:80
    server web-02 10.0.1.2:80 backup
"""


def test_a_suppressed_single_active_server_is_not_concentration(tmp_path: Path) -> None:
    from lbguard.watch.collectors.configfile import ConfigFile

    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(PRIMARY_REPLICA)
    engine = Engine("lb", "test", config=ConfigFile(str(cfg)))
    counts = [{"db-01": 0, "db-02": 0}, {"db-01": 500, "db-02": 0}]
    web = [{"web-01": 0, "web-02": 0}, {"web-01": 500, "web-02": 0}]
    fired: list[Alert] = []
    for i in range(2):
        snap = snapshot(
            float(i),
            pool("mysql", counts[i], backup=("db-02",)),
            pool("app", web[i], backup=("web-02",)),
        )
        fired += engine.observe(snap, datetime.now(UTC))
    assert [(a.kind, a.pool, a.server) for a in fired] == [("concentration", "app", "web-01")]


def test_a_transition_recorded_but_not_queued_is_queued_at_start(tmp_path: Path) -> None:
    """The daemon died between the trail and the outbox: the next start sends it anyway."""
    from lbguard.watch.alerts import AlertBook
    from lbguard.watch.detect import Condition

    url = f"sqlite:///{tmp_path / 'store.db'}"
    book = AlertBook("lb")
    (alert,) = book.update([Condition("concentration", "app", "a", "a gets 100%")], NOW)
    open_store(url).append("alert", alert.as_dict(), subject=alert.fingerprint)
    receiver = Recorder()
    engine = Engine("lb", "replay:test")
    daemon = Daemon([Watch(Replay(_concentrated()), engine)], 0.01, open_store(url), [receiver])
    assert daemon.delivery is not None
    assert asyncio.run(daemon.delivery.deliver_due()) == 1
    assert [a["fingerprint"] for a in receiver.sent] == [alert.fingerprint]
    # Restarting again queues nothing new: the key is already in the outbox.
    again = Daemon(
        [Watch(Replay(_concentrated()), Engine("lb", "x"))], 0.01, open_store(url), [receiver]
    )
    assert again.store is not None and again.store.outbox.pending_count() == 0


def test_an_unexpected_collector_exception_is_blindness_not_silence() -> None:
    engine = Engine("lb", "replay:test", thresholds=Thresholds(blind_polls=2))
    logs: list[str] = []
    daemon = Daemon([Watch(Replay(["bug"]), engine)], 0.01, log=logs.append)

    async def cycles() -> list[Alert]:
        return [a for _ in range(3) for a in await daemon.cycle()]

    fired = asyncio.run(cycles())
    assert [(a.kind, a.state) for a in fired] == [("blind", "firing")]
    assert "UnicodeDecodeError" in fired[0].summary and daemon.cycles == 3
