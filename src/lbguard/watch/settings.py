"""The `[watch]` table of lbguard.toml: sources, receivers and thresholds.

```toml
[watch]
interval = 5                      # seconds between polls
metrics = "127.0.0.1:9917"        # /metrics; "" turns it off
resolve-after = 3                 # clear evaluations before an alert resolves
hold = { weight-drift = 2 }       # evaluations before a kind fires ("for:")

[[watch.sources]]
name = "lb-1"
haproxy-stats = "unix:/run/haproxy/admin.sock"
lb-config = "/etc/haproxy/haproxy.cfg"

[[watch.receivers]]
type = "alertmanager"             # webhook | alertmanager | apprise | log
url = "http://127.0.0.1:9093"

[watch.thresholds]
concentration = 0.9
min-volume = 100

[watch.remediate]                 # act through the stats socket (docs/health.md)
enabled = true
apply = false                     # dry-run: print the commands
max-fraction = 0.1
panic-threshold = 0.5
weight-percent = 50               # lower a server to this share of its config weight

[watch.probe]                     # probe every server of the lb-config each poll
enabled = true
path = "/healthz"                 # HTTP check for pools that have none (nginx)
timeout = 2

[watch.audit]                     # audit these configs inside watch (docs/audit.md)
configs = ["/etc/haproxy/haproxy.cfg"]
every = "1h"
haproxy-stats = "unix:/run/haproxy/admin.sock"   # also compare the running state
```

Unknown keys are rejected by name, like every lbguard setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lbguard.errors import SettingsError
from lbguard.watch.thresholds import KINDS, Thresholds

_THRESHOLDS = {f.name.replace("_", "-"): f for f in fields(Thresholds)}


class SourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str | None = Field(None, description="balancer name in alerts (default: host name)")
    haproxy_stats: str | None = Field(None, alias="haproxy-stats")
    nginx_log: str | None = Field(None, alias="nginx-log")
    lb_config: str | None = Field(None, alias="lb-config")

    @model_validator(mode="after")
    def _one_source(self) -> SourceSettings:
        if (self.haproxy_stats is None) == (self.nginx_log is None):
            raise ValueError("a source needs exactly one of 'haproxy-stats' and 'nginx-log'")
        if self.nginx_log is not None and self.lb_config is None:
            raise ValueError("'nginx-log' needs 'lb-config': nginx's weights come from its config")
        return self


class ReceiverSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    type: Literal["webhook", "alertmanager", "apprise", "log"]
    url: str | None = None
    urls: tuple[str, ...] = ()
    name: str | None = None

    @model_validator(mode="after")
    def _target(self) -> ReceiverSettings:
        if self.type in ("webhook", "alertmanager") and not self.url:
            raise ValueError(f"a {self.type} receiver needs 'url'")
        if self.type == "apprise" and not (self.urls or self.url):
            raise ValueError("an apprise receiver needs 'urls'")
        return self


class RemediateSettings(BaseModel):
    """`[watch.remediate]`: act on overload and imbalance alerts (docs/health.md)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    enabled: bool = False
    apply: bool = Field(False, description="send the commands; otherwise print them (dry-run)")
    max_fraction: float = Field(0.10, gt=0, le=1, alias="max-fraction")
    panic_threshold: float = Field(0.5, gt=0, le=1, alias="panic-threshold")
    weight_percent: int = Field(50, ge=1, le=100, alias="weight-percent")


class ProbeSettings(BaseModel):
    """`[watch.probe]`: probe every server of each source's lb-config every poll."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    enabled: bool = False
    timeout: float = Field(2.0, gt=0, description="seconds each probe may take")
    path: str | None = Field(None, description="HTTP path for pools without an HTTP check")
    allow_remote: bool = Field(False, alias="allow-remote")


class AuditScheduleSettings(BaseModel):
    """`[watch.audit]`: `lbguard audit --every` inside watch, its gauges on watch's /metrics."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    configs: tuple[str, ...] = Field((), description="configs to audit; none turns audits off")
    every: str = Field("1h", description="time between audits: 1h, 30m, 90s")
    haproxy_stats: str | None = Field(
        None,
        alias="haproxy-stats",
        description="runtime API to compare the running state with (unix:PATH or HOST:PORT)",
    )
    native: bool = Field(True, description="run haproxy -c / nginx -t in each audit")

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str) -> str:
        from lbguard.audit.durations import parse_duration
        from lbguard.errors import LbguardError

        try:
            parse_duration(value)
        except LbguardError as exc:
            raise ValueError(exc.message) from None
        return value


class WatchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    interval: float = Field(5.0, gt=0, description="seconds between polls")
    timeout: float = Field(5.0, gt=0, description="seconds a poll may take before it fails")
    metrics: str = Field("127.0.0.1:9917", description="HOST:PORT for /metrics, '' for none")
    resolve_after: int = Field(3, ge=1, alias="resolve-after")
    hold: dict[str, int] = Field(default_factory=dict)
    sources: tuple[SourceSettings, ...] = ()
    receivers: tuple[ReceiverSettings, ...] = ()
    thresholds: dict[str, float] = Field(default_factory=dict)
    remediate: RemediateSettings = Field(default_factory=RemediateSettings)  # type: ignore[arg-type]
    probe: ProbeSettings = Field(default_factory=ProbeSettings)  # type: ignore[arg-type]
    audit: AuditScheduleSettings = Field(default_factory=AuditScheduleSettings)  # type: ignore[arg-type]

    @field_validator("hold")
    @classmethod
    def _kinds(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, n in value.items():
            if kind not in KINDS:
                raise ValueError(f"unknown alert kind '{kind}' ({', '.join(KINDS)})")
            if n < 1:
                raise ValueError(f"hold for '{kind}' must be at least 1")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if key not in _THRESHOLDS:
                raise ValueError(f"unknown threshold '{key}' ({', '.join(sorted(_THRESHOLDS))})")
            if number < 0:
                raise ValueError(f"threshold '{key}' must not be negative")
        return value

    def detection(self) -> Thresholds:
        values: dict[str, Any] = {}
        for key, number in self.thresholds.items():
            f = _THRESHOLDS[key]
            values[f.name] = int(number) if f.type in (int, "int") else float(number)
        return Thresholds(**values)


def watch_settings(table: Mapping[str, Any], path: Path | None) -> WatchSettings:
    """The `[watch]` table validated, when `watch` runs; `SettingsError` naming a bad key.

    `lbguard.settings` keeps the table raw so that other commands never build these
    models; errors read as if the whole file had been validated at once.
    """
    from lbguard.settings import format_error

    try:
        return WatchSettings.model_validate(dict(table))
    except ValidationError as exc:
        raise SettingsError(format_error(path or Path("lbguard.toml"), exc, ("watch",))) from None
