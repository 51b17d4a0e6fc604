"""A watch restart between an action and its resolve must not strand a lowered weight."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lbguard.store import open_store
from test_watch_remediate import WEIGHT, fired, watching, weights
from watch_e2e import Haproxy, Load, running_haproxy, until

pytestmark = pytest.mark.native


def test_the_resolve_after_a_restart_undoes_the_previous_runs_action(
    haproxy_bin: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'lbguard.db'}"

    async def first(box: Haproxy) -> None:
        store = open_store(url)
        daemon, _, _ = watching(box, apply=True, store=store)
        async with daemon:
            await until(lambda: daemon.cycles >= 5, 15, "a warm-up")
            box.stub("web-02").status = 500
            await until(lambda: weights(box)["web-02"] == WEIGHT // 2, 15, "web-02 at weight 5")
        store.close()

    async def second(box: Haproxy) -> list[str]:
        store = open_store(url)
        daemon, seen, said = watching(box, apply=True, store=store)
        async with daemon:
            assert weights(box)["web-02"] == WEIGHT // 2  # still lowered across the restart
            box.stub("web-02").status = 200
            await until(lambda: fired(seen, "overload", "web-02", "resolved"), 20, "the resolve")
            await until(lambda: weights(box)["web-02"] == WEIGHT, 5, "web-02 back at weight 10")
        store.close()
        return said

    with (
        running_haproxy(haproxy_bin, tmp_path, weight=WEIGHT) as box,
        Load(box.port, rate=150, max_seconds=60),
    ):
        asyncio.run(first(box))
        said = asyncio.run(second(box))
    assert said[0] == "remediate: 1 action(s) of a previous run still in force on lb-test"
    assert "remediate: sent: set server app/web-02 weight 10" in said
    store = open_store(url)
    actions = [r.body for r in store.records(kinds=["action"])]
    store.close()
    assert [(a["what"], a.get("prior_weight")) for a in actions] == [
        ("weight", WEIGHT),
        ("restore-weight", None),
    ]
    assert all(a["balancer"] == "lb-test" for a in actions)
