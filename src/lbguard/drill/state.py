"""Where a drill keeps its state, and how whatever it started is found and ended.

A drill spans several commands (`start`, `hint`, `answer`, `stop`) and one detached
process that runs the balancer, the stubs and the traffic. Everything it needs to
find again lives in one directory: `drill.json` (the trainee's session, written by
the CLI) and `run.json` (pids and paths, written by the detached process itself).
Processes are ended by process group, but only those that /proc shows are still
ours (a haproxy or an lbguard drill in the recorded group), so a recycled pid is
never killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from lbguard.atomic import atomic_write_text
from lbguard.errors import LbguardError
from lbguard.util import is_digits

SESSION = "drill.json"
RUN = "run.json"


def drill_dir() -> Path:
    """$LBGUARD_DRILL_DIR, else $XDG_RUNTIME_DIR/lbguard/drill, else ~/.local/state/..."""
    explicit = os.environ.get("LBGUARD_DRILL_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "lbguard" / "drill"
    return Path.home() / ".local" / "state" / "lbguard" / "drill"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LbguardError(
            f"{path}: unreadable drill state ({exc}); run 'lbguard drill stop'"
        ) from None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, lambda fh: json.dump(data, fh, indent=2, sort_keys=True))


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a live process from /proc, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces; fields follow the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """True while the process runs; a zombie waiting to be reaped has stopped running."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(arg) for arg in raw.split(b"\0") if arg]


def _ours(pid: int) -> bool:
    """haproxy, the drill's daemon, or the lbguard watch it started."""
    args = _cmdline(pid)
    return any("haproxy" in a or a in ("lbguard", "lbguard.drill.daemon") for a in args)


def scan(folder: Path, pgid: int | None) -> list[int]:
    """Live drill processes in group `pgid` or whose command line names `folder`.

    The second test finds a daemon or a balancer even when a crash left no run.json.
    """
    root = str(folder.resolve())
    out = []
    for entry in os.listdir("/proc"):
        if not is_digits(entry):
            continue
        pid = int(entry)
        st = _stat(pid)
        if st is None or st[0] in ("Z", "X") or not _ours(pid):
            continue
        if st[1] == pgid or any(a == root or a.startswith(root + "/") for a in _cmdline(pid)):
            out.append(pid)
    return out


def recorded_pids(run: dict[str, Any] | None) -> list[int]:
    if not run:
        return []
    return [int(p) for p in (run.get("pid"), run.get("balancer_pid"), run.get("watch_pid")) if p]


def leftovers(folder: Path) -> list[int]:
    """Every live process a drill in `folder` started, recorded or in its group."""
    try:
        run = read_json(folder / RUN)
    except LbguardError:
        run = None
    pids = {p for p in recorded_pids(run) if alive(p) and _ours(p)}
    pids.update(scan(folder, int(run["pgid"]) if run and run.get("pgid") else None))
    return sorted(pids)


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _reap(pids: list[int]) -> None:
    """Collect exit statuses of any that are our own children (in tests, say)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def end_processes(folder: Path, grace: float = 5.0) -> list[int]:
    """Stop everything the drill in `folder` started: SIGTERM, then SIGKILL after `grace`."""
    pids = leftovers(folder)
    if not pids:
        return []
    _signal(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pids)
        if not any(alive(p) for p in pids) and not leftovers(folder):
            return pids
        time.sleep(0.05)
    remaining = leftovers(folder) or [p for p in pids if alive(p)]
    _signal(remaining, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in remaining):
        _reap(remaining)
        time.sleep(0.05)
    still = [p for p in remaining if alive(p)]
    if still:
        raise LbguardError(f"drill processes {still} did not stop; end them with kill -9")
    return pids


def clear(folder: Path) -> None:
    """Remove the drill's files once its processes are gone."""
    for name in ("etc", "run"):
        shutil.rmtree(folder / name, ignore_errors=True)
    for name in (SESSION, RUN, "daemon.log"):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
