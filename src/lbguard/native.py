"""Running the real balancer's own config check, safely.

The binary is the final word on syntax, so lbguard runs it next to its own checks:
in a temporary directory, with a timeout, in its own process group so nothing it
starts can outlive the check, and never binding a port (`-c` / `-t` only parse).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

NATIVE_TIMEOUT = 30.0
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_binary(name: str) -> str | None:
    """`name` on PATH, or in the sbin directories that a non-root PATH often lacks."""
    found = shutil.which(name)
    if found:
        return found
    for folder in _SBIN:
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass(frozen=True)
class NativeRun:
    returncode: int
    output: str
    timed_out: bool = False


def run_isolated(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    timeout: float = NATIVE_TIMEOUT,
    env: dict[str, str] | None = None,
) -> NativeRun:
    """Run a check command in its own session; kill the whole group on timeout."""
    with tempfile.TemporaryDirectory(prefix="lbguard-native-") as tmp:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd or tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            return NativeRun(-1, out.decode("utf-8", "replace"), timed_out=True)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        # Anything the check left behind in its group goes too.
        _kill_group(proc)
        return NativeRun(proc.returncode, out.decode("utf-8", "replace"))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
