"""A watchdog that takes the sandbox's process groups down if lbguard dies outright.

`finally` blocks and atexit handlers do not run when lbguard is killed with SIGKILL
(or by the OOM killer). PR_SET_PDEATHSIG covers a balancer's first process, but not
what it forks: nginx's workers outlive a killed master. So a forked watchdog holds
the read end of a pipe; lbguard tells it each process group it starts and each one
it has stopped, and when the pipe reaches end-of-file with groups still listed
(lbguard is gone, however it died), the watchdog kills those groups and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal


class Reaper:
    """Kills the listed process groups when its owner dies; a no-op once closed."""

    def __init__(self) -> None:
        self._write = -1
        self._pid = 0

    def start(self) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 0
            try:
                os.close(write)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is lbguard's to handle
                _watch(read)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(read)
        self._write, self._pid = write, pid

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def release(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def _send(self, line: str) -> None:
        if self._write >= 0:
            with contextlib.suppress(OSError):
                os.write(self._write, line.encode())

    def close(self) -> None:
        """Everything is stopped: the watchdog exits without killing anything."""
        if self._write < 0:
            return
        with contextlib.suppress(OSError):
            os.close(self._write)
        self._write = -1
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)


def _watch(read: int) -> None:
    groups: set[int] = set()
    pending = b""
    while chunk := os.read(read, 4096):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"+"):
                groups.add(int(line[1:]))
            elif line.startswith(b"-"):
                groups.discard(int(line[1:]))
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
