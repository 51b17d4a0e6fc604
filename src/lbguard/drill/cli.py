"""`lbguard drill`: practise diagnosing a balancer incident on a real, staged balancer."""

from __future__ import annotations

import getpass
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lbguard.drill.scenarios import SCENARIOS, Scenario, scenario_by_name
from lbguard.drill.state import (
    RUN,
    SESSION,
    clear,
    drill_dir,
    end_processes,
    leftovers,
    read_json,
    write_json,
)
from lbguard.errors import EXIT_FINDINGS, LbguardError

if TYPE_CHECKING:
    from lbguard.store import Store

START_TIMEOUT = 30.0


def _session(folder: Path) -> tuple[dict[str, Any], Scenario]:
    session = read_json(folder / SESSION)
    if session is None:
        raise LbguardError("no drill is running; start one with 'lbguard drill start --random'")
    scenario = scenario_by_name(str(session.get("scenario")))
    if scenario is None:
        raise LbguardError(
            f"{folder / SESSION}: unknown scenario {session.get('scenario')!r}; "
            "run 'lbguard drill stop'"
        )
    return session, scenario


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _open_store() -> Store:
    from lbguard.settings import load_settings
    from lbguard.store import open_store

    settings, _ = load_settings()
    return open_store(settings_value=settings.store)


def _record(session: dict[str, Any], solved: bool) -> None:
    """Keep the score in the store's trail, so a team lead can see who has practised."""
    body = {
        "scenario": session["scenario"],
        "user": session.get("user"),
        "solved": solved,
        "seconds": round(time.time() - float(session["started_at"]), 1),
        "hints": int(session.get("hints_used", 0)),
        "wrong_answers": int(session.get("attempts", 0)),
        "seed": session.get("seed"),
    }
    try:
        with _open_store() as store:
            store.append("drill", body, subject=str(session["scenario"]))
    except LbguardError as exc:
        click.echo(f"lbguard: warning: the score was not recorded: {exc.message}", err=True)


@click.group("drill")
def drill_command() -> None:
    """Practise finding a balancer incident, staged on the real haproxy on loopback.

    Exit status: 0 ok (a right answer), 1 a wrong answer, 2 usage or set-up error.
    """


@drill_command.command("list")
def list_cmd() -> None:
    """List the scenarios ('start --random' keeps the choice a surprise)."""
    for s in SCENARIOS:
        click.echo(f"{s.name:<22}{s.setting}")


def _start_daemon(folder: Path) -> dict[str, Any]:
    subprocess.run(
        [sys.executable, "-m", "lbguard.drill.daemon", "--detach", str(folder.resolve())],
        check=True,
        timeout=START_TIMEOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        run = read_json(folder / RUN)
        if run and run.get("status") == "ready":
            return run
        if run and run.get("status") == "error":
            end_processes(folder)
            raise LbguardError(f"the drill could not start: {run.get('error')}")
        time.sleep(0.05)
    end_processes(folder)
    raise LbguardError(
        f"the drill did not start within {START_TIMEOUT:.0f} s; see {folder / 'daemon.log'}"
    )


def _previous_session(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json(folder / SESSION)
    except LbguardError:
        return None  # unreadable: its processes are still ended, its files removed


def _finish(folder: Path) -> tuple[dict[str, Any] | None, list[int]]:
    """End a drill's processes and files; an attempt not yet solved is scored as given up."""
    session = _previous_session(folder)
    ended = end_processes(folder)
    if (
        session is not None
        and not session.get("solved")
        and scenario_by_name(str(session.get("scenario")))
    ):
        _record(session, solved=False)
    clear(folder)
    return session, ended


def _end_previous(folder: Path) -> None:
    session, ended = _finish(folder)
    if ended:
        click.echo(f"lbguard: ended a previous drill's processes {ended}", err=True)
    elif session is not None and not session.get("solved"):
        click.echo("lbguard: the previous drill was not solved; recorded as given up", err=True)


@drill_command.command("start")
@click.argument("scenario_name", required=False, metavar="[SCENARIO]")
@click.option("--random", "pick_random", is_flag=True, help="Pick a scenario at random.")
@click.option("--seed", type=int, default=None, help="Seed for --random and the traffic.")
@click.option(
    "--ttl",
    type=click.FloatRange(min=5, max=24 * 3600),
    default=3600,
    show_default=True,
    help="Seconds after which the drill stops itself.",
)
def start_cmd(scenario_name: str | None, pick_random: bool, seed: int | None, ttl: float) -> None:
    """Stage an incident and print only what users report."""
    from lbguard.native import find_binary

    if (scenario_name is None) == (not pick_random):
        raise LbguardError("name a scenario or pass --random (see 'lbguard drill list')")
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 31)
    if scenario_name is not None:
        scenario = scenario_by_name(scenario_name)
        if scenario is None:
            names = ", ".join(s.name for s in SCENARIOS)
            raise LbguardError(f"unknown scenario '{scenario_name}' (one of: {names})")
    else:
        scenario = random.Random(seed).choice(SCENARIOS)
    if find_binary("haproxy") is None:
        raise LbguardError("haproxy is not installed; the drill stages the real balancer")
    folder = drill_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LbguardError(
            f"{folder}: cannot create the drill directory ({exc.strerror})"
        ) from None
    _end_previous(folder)
    etc = folder / "etc"
    etc.mkdir(mode=0o700)
    (etc / "haproxy.cfg").write_text(scenario.config, encoding="utf-8")
    for name, text in scenario.extra_files.items():
        (etc / name).write_text(text, encoding="utf-8")
    session = {
        "version": 1,
        "scenario": scenario.name,
        "seed": seed,
        "ttl": ttl,
        "started_at": time.time(),
        "hints_used": 0,
        "attempts": 0,
        "solved": False,
        "user": getpass.getuser(),
    }
    write_json(folder / SESSION, session)
    run = _start_daemon(folder)
    click.echo(f"Incident: {scenario.symptom}\n")
    click.echo(f"The balancer's config: {run['config']}")
    click.echo(f"Its stats socket:      {run['socket']}")
    click.echo(f"The site:              {run['url']}")
    click.echo(
        "\nInvestigate with lbguard check, simulate and verify ('lbguard drill status' "
        'repeats these paths).\nThen: lbguard drill answer "<cause>" [--server NAME]; '
        "'lbguard drill hint' if you are stuck."
    )


@drill_command.command("status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def status_cmd(fmt: str) -> None:
    """Where the running drill's config and stats socket are, for the ordinary commands."""
    folder = drill_dir()
    session, scenario = _session(folder)
    run = read_json(folder / RUN) or {}
    pids = leftovers(folder)
    data = {
        "version": 1,
        "symptom": scenario.symptom,
        "running": bool(pids),
        "pids": pids,
        "elapsed_seconds": round(time.time() - float(session["started_at"]), 1),
        "hints_used": session.get("hints_used", 0),
        "solved": bool(session.get("solved")),
        "config": run.get("config"),
        "running_config": run.get("running_config"),
        "stats_socket": run.get("socket"),
        "url": run.get("url"),
        "directory": str(folder),
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"Incident:     {scenario.symptom}")
    state = f"running (pids {', '.join(map(str, pids))})" if pids else "not running"
    click.echo(f"Balancer:     {state}")
    click.echo(f"Config:       {data['config']}")
    click.echo(f"Stats socket: {data['stats_socket']}")
    click.echo(f"Site:         {data['url']}")
    click.echo(f"Sandboxed:    {data['running_config']} (servers moved to loopback stubs)")
    click.echo(
        f"Elapsed:      {_duration(data['elapsed_seconds'])}, hints used: {data['hints_used']}"
    )


@drill_command.command("hint")
def hint_cmd() -> None:
    """The next of three graded hints; each one used is counted in the score."""
    folder = drill_dir()
    session, scenario = _session(folder)
    used = min(int(session.get("hints_used", 0)) + 1, len(scenario.hints))
    session["hints_used"] = used
    write_json(folder / SESSION, session)
    click.echo(f"Hint {used}/{len(scenario.hints)}: {scenario.hints[used - 1]}")


@drill_command.command("answer")
@click.argument("cause")
@click.option("--server", default=None, help="The server at fault, when there is one.")
def answer_cmd(cause: str, server: str | None) -> None:
    """Check a diagnosis: the cause in your own words, and the server at fault."""
    folder = drill_dir()
    session, scenario = _session(folder)
    if session.get("solved"):
        click.echo("Already diagnosed; 'lbguard drill stop' ends the drill.")
        return
    right, why = scenario.judge(cause, server)
    if not right:
        session["attempts"] = int(session.get("attempts", 0)) + 1
        write_json(folder / SESSION, session)
        click.echo(f"Not yet: {why}")
        sys.exit(EXIT_FINDINGS)
    session["solved"] = True
    write_json(folder / SESSION, session)
    elapsed = time.time() - float(session["started_at"])
    click.echo(f"Right ({scenario.name}): {why}")
    click.echo(
        f"Diagnosed in {_duration(elapsed)} with {session['hints_used']} hint(s) and "
        f"{session['attempts']} wrong answer(s). 'lbguard drill stop' ends the drill."
    )
    _record(session, solved=True)


@drill_command.command("stop")
def stop_cmd() -> None:
    """End the drill: every process it started, and its files."""
    session, ended = _finish(drill_dir())
    if session is not None and not session.get("solved"):
        click.echo(f"The scenario was: {session.get('scenario')}")
    if session is None and not ended:
        click.echo("No drill was running.")
        return
    click.echo(f"Drill stopped: {len(ended)} process(es) ended, nothing left running.")


@drill_command.command("scores")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def scores_cmd(fmt: str) -> None:
    """Who has practised: every finished drill, from the store's trail."""
    with _open_store() as store:
        rows = [
            {"at": rec.at.isoformat(timespec="seconds"), **rec.body}
            for rec in store.records(kinds=["drill"])
        ]
    if fmt == "json":
        click.echo(json.dumps({"version": 1, "drills": rows}, indent=2))
        return
    if not rows:
        click.echo("No drills recorded yet.")
        return
    for r in rows:
        outcome = "solved" if r.get("solved") else "gave up"
        click.echo(
            f"{r['at']}  {r.get('user') or '?':<12}{r.get('scenario', '?'):<22}{outcome:<9}"
            f"{_duration(float(r.get('seconds', 0))):>8}  hints {r.get('hints', 0)}"
        )
