"""The detached process behind a running drill: the real haproxy, the stubs, the traffic,
and `lbguard watch` on that haproxy when this build of lbguard has it.

`lbguard drill start` runs `python -m lbguard.drill.daemon --detach DIR`, which starts
this module again in a new session and returns at once, so the drill outlives the
command that started it but is nobody's zombie. The process records its own pid and
process group in DIR/run.json before it starts anything; haproxy and watch run in
that same group and die with it (PR_SET_PDEATHSIG), so `drill stop`, or the next `drill start`
after a crash, can end everything by group. Traffic is bounded: a fixed rate, a
request budget, and a lifetime (`ttl`) after which the drill ends itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from lbguard.drill.scenarios import Scenario, scenario_by_name
from lbguard.drill.state import RUN, SESSION, read_json, write_json
from lbguard.errors import LbguardError

RATE = 60.0  # requests per second, all workers together: watch sees 100 in 2 s
# Many clients, each pausing WORKERS / RATE s between requests: a slow server then
# slows a few of them down, not the whole traffic, so requests keep arriving at it
# as they would from real users (and its queue and response time grow).
WORKERS = 30
HOST = "www.shop.example"


def _runtime_when_up(sock: str, command: str, deadline: float) -> str:
    """A runtime API command, once the stats socket exists: HAProxy may accept on its
    frontend port a moment before it has bound the socket."""
    from lbguard.haproxy_runtime import RuntimeAPIError, RuntimeClient

    while True:
        try:
            return RuntimeClient(sock, timeout=3.0).command(command)
        except RuntimeAPIError:
            if time.monotonic() > deadline:
                raise LbguardError(f"the balancer's stats socket {sock} did not appear") from None
            time.sleep(0.05)


class _Budget:
    """The drill's total request allowance, shared by the traffic workers."""

    def __init__(self, requests: int) -> None:
        self._left = requests
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            self._left -= 1
            return self._left >= 0


def _traffic(
    port: int, scenario: Scenario, seed: int, stop: threading.Event, budget: _Budget
) -> None:
    """One worker: paced requests from many 127.x.y.z clients (or one proxy) until stopped."""
    from lbguard.sandbox.run import request_once
    from lbguard.simulate.traffic import Request

    rng = random.Random(seed)
    pause = WORKERS / RATE
    while not stop.is_set() and budget.take():
        b, c, d = rng.randrange(1, 255), rng.randrange(0, 256), rng.randrange(1, 255)
        uri = f"/product/{rng.randrange(1, 2000)}"
        headers: tuple[tuple[str, str], ...] = (("Host", HOST),)
        if scenario.behind_proxy:
            headers += (("X-Forwarded-For", f"198.{b}.{c}.{d}"),)
            client = "127.0.0.2"
        else:
            client = f"127.{b}.{c}.{d}"
        started = time.monotonic()
        with contextlib.suppress(OSError):
            request_once(port, Request(client, uri, headers), 5.0)
        stop.wait(max(0.0, pause - (time.monotonic() - started)))


def serve(folder: Path, run: dict[str, Any], stop: threading.Event) -> None:
    """Stage the scenario recorded in DIR/drill.json and keep it running until `stop`."""
    from lbguard.native import find_binary
    from lbguard.parsers.haproxy import parse_haproxy
    from lbguard.sandbox.haproxy_box import build_sandbox
    from lbguard.sandbox.run import _wait_listening
    from lbguard.sandbox.stubs import StubFarm, StubServer

    session = read_json(folder / SESSION) or {}
    scenario = scenario_by_name(str(session.get("scenario")))
    if scenario is None:
        raise LbguardError(f"unknown scenario {session.get('scenario')!r}")
    exe = find_binary("haproxy")
    if exe is None:
        raise LbguardError("haproxy is not installed; the drill needs the real binary")
    rundir = folder / "run"
    rundir.mkdir(mode=0o700, exist_ok=True)
    source = rundir / "running.cfg"
    source.write_text(scenario.running_config, encoding="utf-8")
    parsed = parse_haproxy([source])
    box = build_sandbox(parsed.config, scenario.running_config.split("\n"), str(rundir))
    cfg = rundir / "haproxy.cfg"
    cfg.write_text(box.text, encoding="utf-8")
    behaviour = {name: scenario.stubs.get(name, (0.0, 200)) for _, name in box.stub_ports}
    stubs = {
        name: StubServer(f"{pool}/{name}", port, *behaviour[name])
        for (pool, name), port in box.stub_ports.items()
    }
    if scenario.slow_after:
        for stub in stubs.values():
            stub.latency = 0.0  # fast until the slowdown
    farm = StubFarm(list(stubs.values()))
    log = rundir / "haproxy.log"
    proc = _spawn([exe, "-db", "-f", str(cfg)], rundir, log)
    run["balancer_pid"] = proc.pid
    write_json(folder / RUN, run)
    config_path = folder / "etc" / "haproxy.cfg"
    watch: subprocess.Popen[bytes] | None = None
    workers: list[threading.Thread] = []
    stats = f"127.0.0.1:{box.stats_port}"
    try:
        # Before the stubs' thread starts: _spawn's preexec_fn must not run beside
        # threads. The stubs must be up before haproxy's first health checks.
        watch = _start_watch(stats, config_path, rundir)
        if watch is not None:
            run["watch_pid"] = watch.pid
            write_json(folder / RUN, run)
        farm.start()
        port = box.frontend_ports["www"]
        _wait_listening(port, proc, time.monotonic() + 10, log)
        for command in scenario.runtime:
            _runtime_when_up(stats, command, time.monotonic() + 10)
        if scenario.running is not None:
            # The file was changed after the process started, and never loaded.
            os.utime(config_path)
        ttl = float(session.get("ttl", 3600))
        budget = _Budget(int(RATE * ttl))
        for i in range(WORKERS):
            seed = int(session.get("seed", 0)) * 100 + i
            t = threading.Thread(
                target=_traffic, args=(port, scenario, seed, stop, budget), daemon=True
            )
            t.start()
            workers.append(t)
        run.update(
            status="ready",
            socket=stats,
            config=str(config_path),
            running_config=str(cfg),
            url=f"http://127.0.0.1:{port}/",
            port=port,
        )
        write_json(folder / RUN, run)
        if scenario.slow_after and not stop.wait(min(scenario.slow_after, ttl)):
            # The stubs read their latency on every request, so this takes effect now.
            for name, stub in stubs.items():
                stub.latency = behaviour[name][0]
            stop.wait(max(0.0, ttl - scenario.slow_after))
        else:
            stop.wait(ttl)
    finally:
        stop.set()
        for t in workers:
            t.join(6)
        if watch is not None:
            _end(watch, 10)  # it delivers or queues its last alerts on SIGTERM
        _end(proc, 5)
        farm.stop()


def _spawn(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """A child in this daemon's process group (one killpg ends all) that dies with it."""
    from lbguard.sandbox.run import _die_with_parent

    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out if argv[0] == sys.executable else subprocess.DEVNULL,
            stderr=out,
            preexec_fn=_die_with_parent,
        )


def _end(proc: subprocess.Popen[bytes], grace: float) -> None:
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _start_watch(sock: str, config: Path, rundir: Path) -> subprocess.Popen[bytes] | None:
    """`lbguard watch` on the drill's balancer, when this build of lbguard has it.

    Its alerts go to the store like any balancer's, under the balancer name "drill",
    so `lbguard timeline` shows the trainee what fired and when.
    """
    if importlib.util.find_spec("lbguard.watch") is None:
        return None
    argv = [sys.executable, "-m", "lbguard", "watch", "--haproxy-stats", sock]
    # Polling every second, so alerts come while the trainee is still looking.
    argv += ["--lb-config", str(config), "--name", "drill", "--metrics", "", "--interval", "1"]
    return _spawn(argv, rundir, rundir / "watch.log")


def _detach(folder: str) -> int:
    """Start the daemon in its own session, its output in DIR/daemon.log, and return."""
    with open(os.path.join(folder, "daemon.log"), "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "lbguard.drill.daemon", folder],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
        )
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--detach":
        return _detach(argv[1])
    if len(argv) != 1:
        print("usage: python -m lbguard.drill.daemon [--detach] DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    run: dict[str, Any] = {"pid": os.getpid(), "pgid": os.getpgrp(), "status": "starting"}
    write_json(folder / RUN, run)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        serve(folder, run, stop)
    except Exception as exc:
        # The CLI waiting for "ready" reports this line; the log keeps the detail.
        traceback.print_exc()
        message = exc.message if isinstance(exc, LbguardError) else f"{type(exc).__name__}: {exc}"
        run.update(status="error", error=message)
        write_json(folder / RUN, run)
        return 1
    run["status"] = "stopped"
    write_json(folder / RUN, run)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
