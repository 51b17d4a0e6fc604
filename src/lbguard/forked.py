"""Running one pure pass of `lbguard check` on the second core, through os.fork.

A big config's check has passes that do not depend on each other (validating the
statements while the model is built; half of the rules while the other half run). A
forked child starts with the parent's memory, so it needs no input at all, and what
it hands back (findings) is small, so a pipe and pickle carry it cheaply. Threads
cannot do this: the passes are pure Python and would just take turns on the GIL.

Whatever goes wrong in the child (no fork on this platform, a thread that makes
forking unsafe, an exception, a crash, a result that does not pickle), the parent
runs the same pass itself: the answer is always the one the sequential code gives.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Callable
from typing import Generic, NoReturn, TypeVar

T = TypeVar("T")

# Set LBGUARD_NO_FORK=1 to run every pass in the one process (for profiling).
_DISABLED = "LBGUARD_NO_FORK"


def can_fork() -> bool:
    """Whether forking is available, safe and worth it.

    Safe: a single-threaded process on a POSIX system (a thread of an embedding
    program, a web server or a watcher, may hold a lock at the moment of the fork,
    which the child would then wait on forever), and not itself a forked child.
    Worth it: a second core is idle.
    The child shares the parent's pages copy-on-write, and each page either process
    then writes is copied (about 0.1 s of CPU each way on a 125k-line config); on a busy
    machine that cost is all there is, so the work stays in one process.
    """
    return (
        hasattr(os, "fork")
        and not _in_child
        and threading.active_count() == 1
        and not os.environ.get(_DISABLED)
        and idle_core()
    )


# Set in a forked child: its work runs in one process, never forking again, since
# the cores it could use are taken by the parent and itself.
_in_child = False


def idle_core() -> bool:
    """Whether a core is free for the child now, besides the one this process runs on.

    Asked of the number of processes running at this instant (/proc/loadavg), not of
    the 1-minute load average: that average lags by a minute, so on a CI box that has
    just finished installing and testing it still reads "busy" while both cores sit
    idle, and reads "idle" on a machine that has just become busy. The cores counted
    are those this process may run on (taskset, cpusets), and with one core there is
    no second one to use: the fork would only add its copy-on-write cost.
    """
    cores = usable_cores()
    if cores < 2:
        return False
    others = others_running()
    if others is not None:
        return others <= cores - 2
    try:  # no /proc: the 1-minute average, with half a core of slack for its noise
        return os.getloadavg()[0] <= cores - 1.5
    except OSError:
        return True


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def others_running(loadavg: str = "/proc/loadavg") -> int | None:
    """Processes running or runnable right now, this one left out; None when unknown.

    The fourth field of /proc/loadavg is "running/total" (Linux); this process, which
    is reading the file, is one of the running.
    """
    try:
        with open(loadavg, encoding="ascii") as f:
            running = f.read().split()[3].partition("/")[0]
        return max(int(running) - 1, 0)
    except (OSError, IndexError, ValueError):
        return None


class Background(Generic[T]):
    """`work()` started in a forked child now; `result()` collects what it returned.

    `work` must be pure as far as the parent is concerned: its side effects happen in
    the child and are lost, and it may run again in the parent when the child fails.
    """

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._pid = 0
        self._fd = -1
        if not can_fork():
            return
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # the child: compute, send, and leave without any cleanup of the parent's
            os.close(read_fd)
            _child(work, write_fd)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    def result(self, instead: Callable[[], T] | None = None) -> T:
        """What the child computed, or, if it could not, `instead()` (by default `work()`).

        `instead` is for work that the parent can do more cheaply than the child,
        having meanwhile computed part of it itself.
        """
        redo = self._work if instead is None else instead
        if not self._pid:
            return redo()
        with os.fdopen(self._fd, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        if status != 0 or not data:
            return redo()
        value: T = pickle.loads(data)
        return value

    def cancel(self) -> None:
        """Stop the child, if one runs, and reap it: its result is no longer wanted."""
        if not self._pid:
            return
        import signal

        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self._pid, 0)
        os.close(self._fd)
        self._pid = 0


def _child(work: Callable[[], object], write_fd: int) -> NoReturn:
    global _in_child
    _in_child = True
    code = 1
    try:
        data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
        code = 0
    except BaseException:  # any failure: the parent runs the work itself
        pass
    finally:
        # Never return into the parent's code (its finally blocks, atexit handlers,
        # buffered stdout): the child's only job is done.
        os._exit(code)
