"""Alerts: conditions held long enough to fire, and gone long enough to resolve.

An alert's identity is its fingerprint, a hash of (balancer, pool, server, kind): the
same problem on the same server is one alert from its start to its end, whatever its
summary says meanwhile. A condition must hold for `hold` evaluations in a row to fire
(a `for:` clause) and be absent for `resolve_after` evaluations in a row to resolve,
so a server hovering at the threshold does not flap.

`Alert` is the internal API other features build on: remediation (`watch
--remediate`) plugs into the daemon's `on_alert` hooks, the audit trail stores every
transition, and receivers deliver them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from lbguard.runbooks import runbook_url
from lbguard.watch.detect import Condition
from lbguard.watch.thresholds import BLIND

FIRING: Literal["firing"] = "firing"
RESOLVED: Literal["resolved"] = "resolved"

# Evaluations in a row before a condition fires. The sequential share test and the
# volume gate already wait for evidence, so imbalance fires on its first evaluation;
# states that a normal deploy passes through briefly wait for a second look.
DEFAULT_HOLD: Mapping[str, int] = MappingProxyType(
    {
        "concentration": 1,
        "share-deviation": 1,
        "no-active-server": 1,
        "blind": 1,
        "starvation": 2,
        "overload": 2,
        "running-on-backup": 2,
        "weight-drift": 2,
    }
)
DEFAULT_RESOLVE_AFTER = 3


def fingerprint(balancer: str, pool: str, server: str, kind: str) -> str:
    """Stable across restarts and hosts: the same problem always has the same fingerprint."""
    raw = "\x1f".join((balancer, pool, server, kind)).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One alert at one transition: firing (ends_at None) or resolved (ends_at set)."""

    fingerprint: str
    kind: str
    severity: str
    balancer: str
    pool: str
    server: str
    summary: str
    state: Literal["firing", "resolved"]
    starts_at: datetime
    ends_at: datetime | None
    labels: Mapping[str, str] = field(default_factory=dict)
    runbook_url: str = ""

    @property
    def key(self) -> str:
        """The outbox key: one delivery per receiver per transition, across restarts."""
        return f"{self.fingerprint}:{self.state}:{self.starts_at.isoformat()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "severity": self.severity,
            "balancer": self.balancer,
            "pool": self.pool,
            "server": self.server,
            "summary": self.summary,
            "state": self.state,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "labels": dict(self.labels),
            "runbook_url": self.runbook_url,
        }


@dataclass
class _Track:
    condition: Condition
    seen: int = 0  # evaluations in a row with the condition
    clear: int = 0  # evaluations in a row without it, while firing
    alert: Alert | None = None


class AlertBook:
    """Turns each evaluation's conditions into alert transitions (fired, resolved)."""

    def __init__(
        self,
        balancer: str,
        *,
        hold: Mapping[str, int] | None = None,
        resolve_after: int = DEFAULT_RESOLVE_AFTER,
    ) -> None:
        self.balancer = balancer
        self.hold = {**DEFAULT_HOLD, **(hold or {})}
        self.resolve_after = max(resolve_after, 1)
        self._tracks: dict[str, _Track] = {}

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Adopt alerts that were firing before a restart, so they are not fired again."""
        for alert in alerts:
            if alert.balancer != self.balancer or alert.state != FIRING:
                continue
            condition = Condition(
                alert.kind, alert.pool, alert.server, alert.summary, alert.severity
            )
            self._tracks[alert.fingerprint] = _Track(
                condition, self.hold.get(alert.kind, 1), 0, alert
            )

    def firing(self) -> list[Alert]:
        return [t.alert for t in self._tracks.values() if t.alert is not None]

    def update(
        self, conditions: Iterable[Condition], now: datetime, *, evaluated: bool = True
    ) -> list[Alert]:
        """Record one evaluation at `now`; return the alerts that fired or resolved.

        With `evaluated` False (the poll failed, nothing could be judged) only the
        blind condition is tracked: other alerts neither resolve nor fire on no data.
        """
        current: dict[str, Condition] = {}
        for c in conditions:
            current.setdefault(fingerprint(self.balancer, c.pool, c.server, c.kind), c)
        transitions: list[Alert] = []
        for fp, c in current.items():
            track = self._tracks.get(fp)
            if track is None:
                track = self._tracks[fp] = _Track(c)
            track.condition = c
            track.seen += 1
            track.clear = 0
            if track.alert is None and track.seen >= self.hold.get(c.kind, 1):
                track.alert = self._alert(fp, c, now)
                transitions.append(track.alert)
            elif track.alert is not None:
                track.alert = replace(track.alert, summary=c.summary, labels=dict(c.labels))
        for fp, track in list(self._tracks.items()):
            if fp in current:
                continue
            if not evaluated and track.condition.kind != BLIND:
                continue
            if track.alert is None:
                del self._tracks[fp]
                continue
            track.seen = 0
            track.clear += 1
            if track.clear >= self.resolve_after:
                transitions.append(replace(track.alert, state=RESOLVED, ends_at=now))
                del self._tracks[fp]
        return transitions

    def _alert(self, fp: str, c: Condition, now: datetime) -> Alert:
        labels = {"balancer": self.balancer, "kind": c.kind, **c.labels}
        if c.pool:
            labels["pool"] = c.pool
        if c.server:
            labels["server"] = c.server
        return Alert(
            fp,
            c.kind,
            c.severity,
            self.balancer,
            c.pool,
            c.server,
            c.summary,
            FIRING,
            now,
            None,
            labels,
            runbook_url(c.kind),
        )


def from_dict(body: Mapping[str, Any]) -> Alert:
    """An `Alert` from its `as_dict()` form (the store trail, the outbox)."""
    ends = body.get("ends_at")
    state = RESOLVED if body["state"] == RESOLVED else FIRING
    return Alert(
        str(body["fingerprint"]),
        str(body["kind"]),
        str(body["severity"]),
        str(body.get("balancer", "")),
        str(body.get("pool", "")),
        str(body.get("server", "")),
        str(body["summary"]),
        state,
        datetime.fromisoformat(str(body["starts_at"])),
        datetime.fromisoformat(str(ends)) if ends else None,
        {str(k): str(v) for k, v in dict(body.get("labels") or {}).items()},
        str(body.get("runbook_url", "")),
    )
