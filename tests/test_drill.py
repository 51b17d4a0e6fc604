"""`lbguard drill` end to end: every scenario staged on the real haproxy, diagnosed, ended.

Each scenario is started through the CLI, its evidence is read the way a trainee
would (`lbguard check` on the config, or the stats socket), a wrong diagnosis is
refused and the right one accepted, and `stop` must leave no process behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import require_haproxy
from lbguard.cli import main
from lbguard.drill.scenarios import SCENARIOS, scenario_by_name
from lbguard.drill.state import alive, scan
from lbguard.haproxy_runtime import RuntimeClient
from lbguard.store import open_store

pytestmark = pytest.mark.native
WATCH = int(importlib.util.find_spec("lbguard.watch") is not None)

# scenario -> (a right diagnosis, the server named with it)
ANSWERS: dict[str, tuple[str, str | None]] = {
    "incident": ("WEB3_IP came back empty from the inventory", "web-03"),
    "all-backup": ("every server but web-01 is marked backup", "web-01"),
    "source-behind-proxy": ("balance source sees only the CDN's address", None),
    "dominant-weight": ("a weight typo", "web-01"),
    "slow-server": ("web-02 is slow but passes its health check", "web-02"),
    "left-in-drain": ("left in drain after the maintenance", "web-03"),
    "never-reloaded": ("haproxy was never reloaded after the fix", None),
    "constant-hash-key": ("it hashes on the Host header, a constant key", None),
}
# Scenarios where one server takes (nearly) every request.
CONCENTRATED = {
    "incident",
    "all-backup",
    "source-behind-proxy",
    "dominant-weight",
    "never-reloaded",
    "constant-hash-key",
}


@pytest.fixture
def drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    require_haproxy()
    folder = tmp_path / "drill"
    monkeypatch.setenv("LBGUARD_DRILL_DIR", str(folder))
    monkeypatch.setenv("LBGUARD_STORE", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, ["drill", *args], catch_exceptions=False)

    yield invoke
    invoke("stop")
    assert scan(folder, None) == []


def _stat(sock: str) -> dict[str, dict[str, str]]:
    return {
        row["svname"]: row
        for row in RuntimeClient(sock).show_stat()
        if row.get("pxname") == "app" and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def _poll(sock: str, ready: Any, timeout: float = 20.0) -> dict[str, dict[str, str]]:
    """Poll the stats socket until `ready(stats)`; generous for a loaded CI box."""
    deadline = time.monotonic() + timeout
    stats = _stat(sock)
    while not ready(stats) and time.monotonic() < deadline:
        time.sleep(0.2)
        stats = _stat(sock)
    return stats


def _lbtot(stats: dict[str, dict[str, str]]) -> dict[str, int]:
    return {name: int(cols["lbtot"] or 0) for name, cols in stats.items()}


def _alerts_within(timeout: float, wanted: frozenset[str]) -> dict[str, set[str]]:
    """The alerts the drill's watch has fired on pool app (kind -> servers named), polled
    from the store until every wanted kind is there."""
    deadline = time.monotonic() + timeout
    while True:
        fired: dict[str, set[str]] = {}
        with open_store() as store:
            for r in store.records(kinds=["alert"]):
                if r.body.get("state") == "firing" and r.body.get("pool") == "app":
                    fired.setdefault(str(r.body.get("kind")), set()).add(str(r.body.get("server")))
        if wanted <= fired.keys() or time.monotonic() > deadline:
            return fired
        time.sleep(0.5)


def _check_codes(config: str) -> tuple[int, set[str]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", config])
    return result.exit_code, {f["code"] for f in json.loads(result.output)["findings"]}


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario_end_to_end(drill: Any, name: str) -> None:
    scenario = scenario_by_name(name)
    assert scenario is not None
    started = drill("start", name, "--seed", "7", "--ttl", "120")
    assert started.exit_code == 0, started.output
    assert scenario.symptom in started.output.replace("\n", " ") or scenario.symptom[:40] in (
        started.output
    )
    assert scenario.explanation not in started.output
    status = json.loads(drill("status", "--format", "json").output)
    # The daemon and haproxy, and lbguard watch on it when this build has watch.
    assert status["running"] and len(status["pids"]) == 2 + WATCH
    pids = status["pids"]
    sock, config = status["stats_socket"], status["config"]

    code, codes = _check_codes(config)
    assert scenario.check_codes <= codes
    if not scenario.check_codes:
        # The file is clean: the cause is only visible in the running balancer.
        assert code == 0, codes
    if name in CONCENTRATED:
        stats = _poll(sock, lambda st: sum(_lbtot(st).values()) >= 40)
        counts = _lbtot(stats)
        assert max(counts.values()) / sum(counts.values()) >= 0.9, counts
    if name == "dominant-weight":
        # The evidence is in the file: the shares follow the weights, as configured.
        assert code == 1 and "LBG103" in codes, codes
    if name == "left-in-drain":
        # Until the first health check, HAProxy shows "DRAIN 1/3" (initial state).
        stats = _poll(
            sock,
            lambda st: int(st["web-01"]["lbtot"] or 0) >= 20 and st["web-03"]["status"] == "DRAIN",
        )
        assert stats["web-03"]["status"] == "DRAIN"
        assert int(stats["web-03"]["lbtot"] or 0) == 0
    if name == "never-reloaded":
        stats = _stat(sock)
        assert stats["web-02"]["bck"] == "1" and "backup" not in Path(config).read_text()

    if WATCH:
        # The drill's watch fires what production would, into the store. A slow server
        # is fast first, so the wait includes its warm-up.
        fired = _alerts_within(20.0 + scenario.slow_after * 2, scenario.alerts)
        assert scenario.alerts <= fired.keys(), (name, fired)
        if name == "slow-server":
            assert fired["overload"] == {"web-02"}, fired
        if name == "dominant-weight":
            # web-01's 98% is what its weight promises: no imbalance alert.
            assert not {"concentration", "share-deviation"} & fired.keys(), fired
    if name == "slow-server":
        # Slowed down, and still UP: its health check passes.
        stats = _poll(sock, lambda st: int(st["web-02"]["rtime"] or 0) >= 50)
        rtimes = {server: int(cols["rtime"] or 0) for server, cols in stats.items()}
        assert rtimes["web-02"] >= 50 and rtimes["web-02"] > 10 * max(
            rtimes["web-01"], rtimes["web-03"], 1
        ), rtimes
        assert all(cols["status"].startswith("UP") for cols in stats.values()), stats

    wrong = drill("answer", "the database is slow")
    assert wrong.exit_code == 1 and "Not yet" in wrong.output
    cause, server = ANSWERS[name]
    args = [cause] + (["--server", server] if server else [])
    right = drill("answer", *args)
    assert right.exit_code == 0, right.output
    assert "Right" in right.output and "1 wrong answer" in right.output

    stopped = drill("stop")
    assert stopped.exit_code == 0 and "nothing left running" in stopped.output
    for pid in pids:
        assert not alive(pid), f"pid {pid} outlived the drill"
    assert not Path(sock).exists()
    with open_store() as store:
        [record] = list(store.records(kinds=["drill"]))
    assert record.body["scenario"] == name and record.body["solved"] is True
    assert record.body["wrong_answers"] == 1
    scores = json.loads(drill("scores", "--format", "json").output)["drills"]
    assert [(s["scenario"], s["solved"]) for s in scores] == [(name, True)]


def test_next_start_ends_what_a_crash_left(drill: Any, tmp_path: Path) -> None:
    assert drill("start", "dominant-weight", "--ttl", "60").exit_code == 0
    old = json.loads(drill("status", "--format", "json").output)["pids"]
    run = json.loads((tmp_path / "drill" / "run.json").read_text())
    # The daemon dies without cleaning up, as after an OOM kill.
    os.kill(run["pid"], signal.SIGKILL)
    again = drill("start", "all-backup", "--ttl", "60")
    assert again.exit_code == 0, again.output
    for pid in old:
        assert not alive(pid), f"pid {pid} from the crashed drill is still running"
    new = json.loads(drill("status", "--format", "json").output)
    assert new["running"] and not set(new["pids"]) & set(old)
    # The crashed attempt still counts: scored as given up, not lost.
    scores = json.loads(drill("scores", "--format", "json").output)["drills"]
    assert [(s["scenario"], s["solved"]) for s in scores] == [("dominant-weight", False)]


def test_hints_are_graded_and_counted(drill: Any) -> None:
    started = drill("start", "left-in-drain", "--ttl", "60")
    assert started.exit_code == 0, started.output
    scenario = scenario_by_name("left-in-drain")
    assert scenario is not None
    shown = [drill("hint").output for _ in range(4)]
    assert [s.split(":", 1)[0] for s in shown] == ["Hint 1/3", "Hint 2/3", "Hint 3/3", "Hint 3/3"]
    assert scenario.hints[0] in shown[0] and scenario.hints[2] in shown[3]
    # Right cause, no server: the drill asks for the server instead of accepting.
    partial = drill("answer", "it was left in drain")
    assert partial.exit_code == 1 and "--server" in partial.output
    wrong_server = drill("answer", "it was left in drain", "--server", "web-01")
    assert wrong_server.exit_code == 1 and "web-01 is not the server" in wrong_server.output
    right = drill("answer", "drain", "--server", "web-03")
    assert right.exit_code == 0 and "3 hint(s)" in right.output


def test_random_is_reproducible_with_a_seed(drill: Any, tmp_path: Path) -> None:
    import random

    expected = random.Random(42).choice(SCENARIOS)
    out = drill("start", "--random", "--seed", "42", "--ttl", "60")
    assert out.exit_code == 0, out.output
    session = json.loads((tmp_path / "drill" / "drill.json").read_text())
    assert session["scenario"] == expected.name
    assert expected.name not in out.output
    # Stopping before a right answer reveals the scenario and records the attempt.
    stopped = drill("stop")
    assert f"The scenario was: {expected.name}" in stopped.output
    scores = drill("scores")
    assert expected.name in scores.output and "gave up" in scores.output


def test_usage_errors_are_one_line(drill: Any) -> None:
    for args, message in [
        (("answer", "backup"), "no drill is running"),
        (("hint",), "no drill is running"),
        (("start", "no-such-scenario"), "unknown scenario 'no-such-scenario'"),
        (("start",), "name a scenario or pass --random"),
    ]:
        result = drill(*args)
        assert result.exit_code == 2, (args, result.output)
        assert f"lbguard: error: {message}" in result.output
        assert "Traceback" not in result.output
    assert drill("stop").output.strip() == "No drill was running."


def test_every_scenario_refuses_unrelated_causes() -> None:
    for scenario in SCENARIOS:
        for cause in ("the database is slow", "DNS", "a bad deploy of the app"):
            ok, _ = scenario.judge(cause, None)
            assert not ok, (scenario.name, cause)
        cause, server = ANSWERS[scenario.name]
        assert scenario.judge(cause, server)[0], scenario.name
