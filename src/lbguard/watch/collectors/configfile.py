"""The balancer's config file, re-read through lbguard's parsers whenever it changes.

Expected weights, the algorithm, backup and disabled flags follow reloads: a deploy
that marks servers backup changes what "balanced" means the moment the file changes.
A file that no longer parses is not what the balancer runs (HAProxy and nginx refuse
to load it), so the last good model stays in use and the error is reported once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lbguard.errors import LbguardError
from lbguard.findings import PARSE, Severity
from lbguard.model import Config, Dialect


@dataclass(frozen=True)
class _Stamp:
    files: tuple[tuple[str, int, int, int], ...]  # path, inode, size, mtime_ns


def _stamp(paths: list[str]) -> _Stamp:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, -1, -1, -1))
            continue
        out.append((path, st.st_ino, st.st_size, st.st_mtime_ns))
    return _Stamp(tuple(out))


def load_config(path: str, dialect: Dialect | None = None) -> Config:
    """Parse `path` (with its includes) into the shared model; `LbguardError` if it cannot."""
    from lbguard.check import parse_unit, plan_units

    units = [u for u in plan_units([path], dialect) if u.kind == "config"]
    if not units:
        raise LbguardError(f"{path}: not a load-balancer config that watch can read")
    parsed = parse_unit(units[0])
    errors = [f for f in parsed.findings if f.code == PARSE and f.severity >= Severity.ERROR]
    if errors:
        first = errors[0]
        raise LbguardError(f"{first.location}: {first.message}")
    return parsed.config


class ConfigFile:
    """A config on disk; `current()` re-reads it when any of its files changed."""

    def __init__(self, path: str, dialect: Dialect | None = None) -> None:
        self.path = path
        self.dialect = dialect
        self.config = load_config(path, dialect)
        self.dialect = self.config.dialect
        self._stamp = _stamp(self._paths())
        self.error: str | None = None
        self.reloads = 0

    def _paths(self) -> list[str]:
        return [self.path, *(f.path for f in self.config.files if f.path != self.path)]

    def current(self) -> tuple[Config, bool]:
        """The config now, and whether it changed since the last call."""
        stamp = _stamp(self._paths())
        if stamp == self._stamp:
            return self.config, False
        self._stamp = stamp
        try:
            config = load_config(self.path, self.dialect)
        except LbguardError as exc:
            self.error = exc.message
            return self.config, False
        self.error = None
        self.config = config
        self._stamp = _stamp(self._paths())
        self.reloads += 1
        return config, True
