"""What `check` and `audit` ask of lbguard's settings, and the answer when there is no file.

`lbguard.settings` validates a settings file with pydantic, whose import and model
building take about 0.1 s: a fifth of a 125k-line config's whole check, paid even
when there is no file and so nothing to validate. `check`, `audit` and the baseline
and trail commands therefore ask only for the few answers below; with no file they
come from `DEFAULTS`, which gives exactly what `Settings()` gives (a test compares
the two rule by rule), and a file found or named still goes through
`lbguard.settings`, with its by-name errors.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Protocol

from lbguard.findings import Severity
from lbguard.rules import RULES, rule_by_key


class RuleSettings(Protocol):
    """The part of `lbguard.settings.Settings` that checking a config reads."""

    @property
    def native(self) -> bool: ...

    def severity_threshold(self) -> Severity: ...

    def active_rules(self) -> list[str]: ...

    def options_for(self, code: str) -> tuple[dict[str, Any], Severity | None]: ...


class CriticalFiles(Protocol):
    """`[audit]`: the critical files an audit hashes and validates."""

    @property
    def files(self) -> tuple[Any, ...]: ...


class CommandSettings(RuleSettings, Protocol):
    """What `audit`, `baseline` and `trail` read besides the rules."""

    @property
    def store(self) -> str | None: ...

    @property
    def audit(self) -> CriticalFiles: ...

    def without_audit_files(self) -> CommandSettings:
        """The same settings with no `[[audit.files]]`: a deploy marker audits configs only."""
        ...


class _NoCriticalFiles:
    files: tuple[Any, ...] = ()


class DefaultSettings:
    """`Settings()` for checking and auditing: every rule on, its default options and
    severity, the default store and no critical files."""

    native = True
    store: str | None = None
    audit: CriticalFiles = _NoCriticalFiles()

    def severity_threshold(self) -> Severity:
        return Severity.WARNING

    def active_rules(self) -> list[str]:
        return [r.code for r in RULES]

    def options_for(self, code: str) -> tuple[dict[str, Any], Severity | None]:
        rule = rule_by_key(code)
        assert rule is not None
        return rule.default_options(), None

    def without_audit_files(self) -> DefaultSettings:
        return self


DEFAULTS = DefaultSettings()


def load_check_settings(path: Path | None = None) -> RuleSettings:
    """The settings `check` runs under: `path`, the file found from here, or the defaults."""
    return load_command_settings(path)


def load_command_settings(path: Path | None = None) -> CommandSettings:
    """The settings a command runs under: `path`, the file found from here, or the defaults."""
    if path is None:
        path = find_settings(Path.cwd())
        if path is None:
            return DEFAULTS
    from lbguard.settings import load_settings

    return load_settings(path)[0]


def find_settings(start: Path) -> Path | None:
    """lbguard.toml, or a pyproject.toml with [tool.lbguard], from `start` up to the repo root."""
    for folder in [start.resolve(), *start.resolve().parents]:
        candidate = folder / "lbguard.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if "lbguard" in data.get("tool", {}):
                return pyproject
        if (folder / ".git").exists():
            break
    return None
