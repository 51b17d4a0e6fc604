"""The optional C twins of the HAProxy parser's hottest loops (`lbguard/_speedups.c`).

A 125k-line config is mostly `server` lines, and in pure Python each costs a few
microseconds of allocating and filling objects, which C does for a tenth of that.
The C code only takes the plain, common case of each loop and hands every other
line back to the Python twin it mirrors, so the grammar is defined once, in Python.

The extension is optional. It is built when lbguard is installed and a C compiler
is at hand; without it, or with ``LBGUARD_PURE_PYTHON=1`` in the environment,
every caller uses the Python twins, and the answers are the same.
"""

from __future__ import annotations

import os
from types import ModuleType

# Set LBGUARD_PURE_PYTHON=1 to run without the C twins (for tests and profiling).
PURE_PYTHON = "LBGUARD_PURE_PYTHON"


def _load() -> ModuleType | None:
    if os.environ.get(PURE_PYTHON):
        return None
    try:
        from lbguard import _speedups
    except ImportError:
        return None
    return _speedups


native: ModuleType | None = _load()


def status() -> str:
    """One line for `lbguard --version` and bug reports: which twins are running."""
    if native is not None:
        return "C speedups loaded"
    if os.environ.get(PURE_PYTHON):
        return f"pure Python: {PURE_PYTHON} is set"
    return "pure Python: the C speedups were not built"
