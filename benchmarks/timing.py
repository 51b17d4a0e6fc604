"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import subprocess
import time


def best_of(argv: list[str], repeat: int) -> tuple[float, int]:
    """Best wall time of `repeat` runs of a command, and its last exit status."""
    best = float("inf")
    code = 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
        code = proc.returncode
    return best, code
