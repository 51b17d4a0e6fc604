"""lbguard's own settings: `lbguard.toml`, or `[tool.lbguard]` in pyproject.toml.

Unknown keys are rejected by name: a misspelt threshold that silently falls back to
its default is worse than an error.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lbguard.errors import SettingsError
from lbguard.findings import Severity
from lbguard.rule_settings import find_settings as find_settings
from lbguard.rules import RULES, rule_by_key


class CriticalFile(BaseModel):
    """`[[audit.files]]`: a critical file (or glob) that audits hash and validate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="file path or glob (`**` allowed)")
    validator: tuple[str, ...] = Field(
        (), description="command run without a shell; '{}' is replaced by the file's path"
    )
    timeout: float = Field(30.0, gt=0, description="seconds the validator may run")

    @field_validator("validator", mode="before")
    @classmethod
    def _argv(cls, value: object) -> object:
        if isinstance(value, str):
            import shlex

            return tuple(shlex.split(value))
        return value


class AuditSettings(BaseModel):
    """`[audit]`: what `lbguard audit` checks besides the balancer configs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: tuple[CriticalFile, ...] = Field((), description="other critical configs to audit")


class Settings(BaseModel):
    """Validated settings. Field names use dashes in TOML (`fail-on`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    fail_on: str = Field("warning", alias="fail-on", description="lowest severity that fails")
    disable: tuple[str, ...] = Field((), description="rule codes or names to turn off")
    enable: tuple[str, ...] = Field(
        (), description="rule codes or names to run; when set, only these run"
    )
    native: bool = Field(True, description="also run haproxy -c / nginx -t when installed")
    store: str | None = Field(
        None,
        description="store URL (sqlite:///PATH or postgresql+psycopg://...) or SQLite path; "
        "LBGUARD_STORE overrides it; default $XDG_STATE_HOME/lbguard/lbguard.db",
    )
    rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-rule options and 'severity', keyed by code or name"
    )
    # Kept raw: only `lbguard watch` validates it (lbguard.watch.settings.watch_settings),
    # so building its models costs the other commands nothing at start-up.
    watch: dict[str, Any] = Field(
        default_factory=dict, description="lbguard watch: sources, receivers, thresholds"
    )
    audit: AuditSettings = Field(
        default_factory=lambda: AuditSettings.model_validate({}), description="lbguard audit"
    )

    @field_validator("fail_on")
    @classmethod
    def _severity(cls, value: str) -> str:
        Severity.parse(value)
        return value

    @field_validator("disable", "enable")
    @classmethod
    def _known_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            if rule_by_key(key) is None:
                raise ValueError(f"unknown rule '{key}'")
        return value

    @field_validator("rules")
    @classmethod
    def _rule_options(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for key, opts in value.items():
            rule = rule_by_key(key)
            if rule is None:
                raise ValueError(f"unknown rule '{key}'")
            known = {o.name: o for o in rule.options}
            for name, setting in opts.items():
                if name == "severity":
                    Severity.parse(str(setting))
                    continue
                opt = known.get(name)
                if opt is None:
                    allowed = ", ".join(["severity", *known]) or "severity"
                    raise ValueError(f"unknown key '{name}' for rule {rule.code} ({allowed})")
                if opt.type is float and isinstance(setting, int) and not isinstance(setting, bool):
                    continue
                if not isinstance(setting, opt.type) or isinstance(setting, bool) != (
                    opt.type is bool
                ):
                    raise ValueError(
                        f"'{name}' for rule {rule.code} must be {opt.type.__name__}, "
                        f"got {setting!r}"
                    )
        return value

    def severity_threshold(self) -> Severity:
        return Severity.parse(self.fail_on)

    def without_audit_files(self) -> Settings:
        return self.model_copy(update={"audit": AuditSettings.model_validate({})})

    def active_rules(self) -> list[str]:
        enabled = {rule_by_key(k).code for k in self.enable} if self.enable else None  # type: ignore[union-attr]
        disabled = {rule_by_key(k).code for k in self.disable}  # type: ignore[union-attr]
        return [
            r.code
            for r in RULES
            if (enabled is None or r.code in enabled) and r.code not in disabled
        ]

    def options_for(self, code: str) -> tuple[dict[str, Any], Severity | None]:
        rule = rule_by_key(code)
        assert rule is not None
        opts = rule.default_options()
        severity: Severity | None = None
        for key, values in self.rules.items():
            if rule_by_key(key) is rule:
                for name, value in values.items():
                    if name == "severity":
                        severity = Severity.parse(str(value))
                    else:
                        opts[name] = value
        return opts, severity


def format_error(path: Path, exc: ValidationError, table: tuple[str, ...] = ()) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in (*table, *err["loc"]))
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key '{where}' in lbguard settings"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{path}: invalid setting '{where}': {msg}"


def load_settings(
    path: Path | None = None, start: Path | None = None
) -> tuple[Settings, Path | None]:
    """Load settings from `path`, or find lbguard.toml / pyproject.toml upward from `start`."""
    if path is None:
        path = find_settings(start or Path.cwd())
        if path is None:
            return Settings.model_validate({}), None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("lbguard", {})
    try:
        return Settings.model_validate(data), path
    except ValidationError as exc:
        raise SettingsError(format_error(path, exc)) from None
