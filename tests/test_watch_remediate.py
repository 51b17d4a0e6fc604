"""`lbguard watch --remediate` against the real haproxy: alerts become runtime API commands,
read back through `show stat`, and every safety rule holds on the live balancer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from lbguard.haproxy_runtime import RuntimeClient
from lbguard.sandbox.haproxy_box import free_port
from lbguard.store import Store, open_store
from lbguard.watch.alerts import Alert
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import SocketStats
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from lbguard.watch.receivers import WebhookReceiver
from lbguard.watch.remediation import remediation
from watch_e2e import Haproxy, Load, running_haproxy, until, webhook_server

pytestmark = pytest.mark.native
INTERVAL = 0.3
WEIGHT = 10  # the config's weight: remediation lowers a server to half of it


def weights(box: Haproxy) -> dict[str, int]:
    """Effective weights as HAProxy reports them in `show stat`."""
    return {s.name: s.weight for s in RuntimeClient(box.socket).pool_state("app").servers}


def fired(seen: list[Alert], kind: str, server: str = "", state: str = "firing") -> bool:
    return any(a.kind == kind and a.server == server and a.state == state for a in seen)


def watching(
    box: Haproxy, *, apply: bool, store: Store | None = None, webhook: str | None = None
) -> tuple[Daemon, list[Alert], list[str]]:
    """The daemon as `lbguard watch --haproxy-stats unix:... --remediate [--apply]` builds it."""
    seen: list[Alert] = []
    said: list[str] = []
    engine = Engine("lb-test", f"unix:{box.socket}", config=ConfigFile(str(box.cfg)))
    daemon = Daemon(
        [Watch(SocketStats(box.socket, timeout=2), engine)],
        INTERVAL,
        store,
        [WebhookReceiver(webhook)] if webhook else [],
        log=lambda line: None,
    )
    daemon.on_alert.append(seen.append)
    daemon.on_alert.append(
        remediation(
            "lb-test",
            box.socket,
            apply=apply,
            publish=daemon.publish,
            trail=store,
            firing=engine.book.firing(),
            echo=said.append,
        )
    )
    return daemon, seen, said


def test_apply_down_weights_the_overloaded_server_undoes_it_and_spares_the_last_active(
    haproxy_bin: str, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'lbguard.db'}")
    during: dict[str, dict[str, Any]] = {}

    async def scenario(box: Haproxy) -> tuple[list[Alert], list[str]]:
        daemon, seen, said = watching(box, apply=True, store=store)
        async with daemon:
            await until(lambda: daemon.cycles >= 5, 15, "a warm-up")
            box.stub("web-02").status = 500  # web-02 fails every request: overload
            started = time.monotonic()
            await until(lambda: fired(seen, "overload", "web-02"), 15, "overload on web-02")
            await until(lambda: weights(box)["web-02"] == WEIGHT // 2, 5, "web-02 at weight 5")
            during["seconds"] = {"act": time.monotonic() - started}
            started = time.monotonic()
            during["acting"] = weights(box)
            box.stub("web-02").status = 200
            await until(lambda: fired(seen, "overload", "web-02", "resolved"), 20, "the resolve")
            await until(lambda: weights(box)["web-02"] == WEIGHT, 5, "web-02 back at weight 10")
            during["seconds"]["undo"] = time.monotonic() - started

            # Every server but web-01 becomes a backup: web-01 takes everything, and it
            # is the last active server, so remediation refuses to touch it.
            await asyncio.to_thread(box.reload, ("web-02", "web-03"))
            await until(lambda: fired(seen, "concentration", "web-01"), 15, "concentration")
            await until(lambda: any("last active" in line for line in said), 5, "the refusal")
            during["refused"] = weights(box)
        return seen, said

    with (
        running_haproxy(haproxy_bin, tmp_path, weight=WEIGHT) as box,
        Load(box.port, rate=150, max_seconds=60),
    ):
        seen, said = asyncio.run(scenario(box))
    act, undo = during["seconds"]["act"], during["seconds"]["undo"]
    print(f"5xx to weight 5: {act:.1f} s; recovery to weight 10: {undo:.1f} s (polls 0.3 s)")
    assert during["acting"] == {"web-01": WEIGHT, "web-02": WEIGHT // 2, "web-03": WEIGHT}
    assert during["refused"]["web-01"] == WEIGHT
    assert "remediate: sent: set server app/web-02 weight 5" in said
    assert "remediate: sent: set server app/web-02 weight 10" in said
    assert not any("web-01 weight" in line for line in said)
    # Who, what and why of each step, in the trail.
    actions = [r.body for r in store.records(kinds=["action"])]
    store.close()
    assert [(a["what"], a["server"]) for a in actions] == [
        ("weight", "web-02"),
        ("restore-weight", "web-02"),
        ("refused", "web-01"),
    ]
    assert actions[0]["who"] == "lbguard watch --remediate" and not actions[0]["dry_run"]
    assert actions[0]["why"].startswith("overload: web-02 is overloaded")
    assert not fired(seen, "remediation-panic")


def test_dry_run_prints_the_exact_command_and_changes_nothing(
    haproxy_bin: str, tmp_path: Path
) -> None:
    async def scenario(box: Haproxy) -> list[str]:
        daemon, seen, said = watching(box, apply=False)
        async with daemon:
            await until(lambda: daemon.cycles >= 5, 15, "a warm-up")
            box.stub("web-03").status = 503
            await until(lambda: fired(seen, "overload", "web-03"), 15, "overload on web-03")
            await until(lambda: len(said) >= 1, 5, "the dry-run line")
            polls = daemon.cycles
            await until(lambda: daemon.cycles >= polls + 3, 5, "three more polls")
            assert weights(box) == dict.fromkeys(("web-01", "web-02", "web-03"), WEIGHT)
        return said

    with (
        running_haproxy(haproxy_bin, tmp_path, weight=WEIGHT) as box,
        Load(box.port, rate=150, max_seconds=30),
    ):
        said = asyncio.run(scenario(box))
    assert said == ["remediate: dry-run, would send: set server app/web-03 weight 5"]


def test_panic_stops_acting_undoes_and_alerts_through_the_pipeline(
    haproxy_bin: str, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'lbguard.db'}")
    hook_port = free_port()
    during: dict[str, Any] = {}

    async def scenario(box: Haproxy, received: list[dict[str, Any]]) -> list[Alert]:
        daemon, seen, said = watching(
            box, apply=True, store=store, webhook=f"http://127.0.0.1:{hook_port}/hook"
        )
        async with daemon:
            await until(lambda: daemon.cycles >= 5, 15, "a warm-up")
            # Two of three servers fail: the cause is probably shared, so remediation
            # must stop, undo what it did, and say so as an alert.
            box.stub("web-01").status = 500
            box.stub("web-02").status = 500
            await until(lambda: fired(seen, "remediation-panic"), 20, "the panic alert")
            await until(
                lambda: any(r["body"]["alert"]["kind"] == "remediation-panic" for r in received),
                10,
                "the panic alert at the webhook",
            )
            during["panic"] = weights(box)
            during["said"] = list(said)
            box.stub("web-01").status = 200
            box.stub("web-02").status = 200
            await until(lambda: fired(seen, "remediation-panic", "", "resolved"), 20, "all clear")
            during["after"] = weights(box)
        return seen

    with (
        running_haproxy(haproxy_bin, tmp_path, weight=WEIGHT) as box,
        Load(box.port, rate=150, max_seconds=60),
        webhook_server(hook_port) as received,
    ):
        seen = asyncio.run(scenario(box, received))
    everyone = dict.fromkeys(("web-01", "web-02", "web-03"), WEIGHT)
    assert during["panic"] == everyone and during["after"] == everyone
    assert any("PANIC" in line for line in during["said"])
    panic = next(a for a in seen if a.kind == "remediation-panic")
    assert panic.pool == "app" and panic.severity == "critical"
    assert panic.runbook_url == "https://lbguard.dev/runbooks/remediation-panic/"
    assert "2 of 3 servers" in panic.summary
    # Recorded like any alert, and as an action with its reasons.
    alerts = [r.body for r in store.records(kinds=["alert"])]
    actions = [r.body for r in store.records(kinds=["action"])]
    store.close()
    assert [a["state"] for a in alerts if a["kind"] == "remediation-panic"] == [
        "firing",
        "resolved",
    ]
    assert "panic-stop" in [a["what"] for a in actions]
    # At most one server was ever acted on, and whatever was done was undone.
    acted = [a for a in actions if a["what"] == "weight"]
    assert len(acted) <= 1
    assert len([a for a in actions if a["what"] == "restore-weight"]) == len(acted)
