"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import subprocess
import sys
import time


def compile_lbguard() -> None:
    """Compile lbguard's modules to bytecode before timing, as installing the wheel does.

    An editable install (`make`) run with PYTHONDONTWRITEBYTECODE=1 never keeps its
    bytecode, so every timed run would first recompile lbguard's own ~13k lines of
    source (about 80 ms of a check), a cost no installed copy pays.
    """
    code = (
        "import compileall, os, lbguard; "
        "compileall.compile_dir(os.path.dirname(lbguard.__file__), quiet=1)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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


def alternate(commands: dict[str, list[str]], repeat: int) -> dict[str, list[float]]:
    """Wall times of each command, run in turn `repeat` times: A B A B ...

    Taking turns puts both commands under the same machine conditions; on a shared
    host the speed of a core drifts from minute to minute, and timing one command
    after the other would measure the drift.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
