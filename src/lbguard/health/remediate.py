"""`watch --remediate`: act on overload and imbalance alerts through HAProxy's runtime API,
safely.

The policy (`Remediator`) is pure: given an alert and the pool as HAProxy sees it, it
decides actions, refusals and panics. The executor (`Executor`) reads the live pool,
asks the policy, sends or prints the commands and records every decision in the trail.
Safety rules, each tested:

- dry-run by default: the exact runtime API command is printed, not sent;
- never drain, zero or down-weight the last active server of a pool;
- never act on more than `max_fraction` of a pool at once (default 10%, at least one
  server), as Envoy's `max_ejection_percent`;
- panic: when more than `panic_threshold` of a pool looks unhealthy the cause is
  probably shared (a database, say), so the policy stops acting on that pool, undoes
  what it did there (traffic spreads over every server again, as Envoy's panic mode
  does) and raises an alert;
- every action is recorded with who, what and why, and undone when its alert resolves.

Alerts come from `lbguard watch` (`lbguard.watch.alerts.Alert`); this module needs
only the attributes in `AlertLike`, so it does not import watch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from lbguard.errors import LbguardError
from lbguard.haproxy_runtime import PoolState, RuntimeClient


class AlertLike(Protocol):
    """What remediation reads from a watch alert."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def balancer(self) -> str: ...
    @property
    def pool(self) -> str | None: ...
    @property
    def server(self) -> str | None: ...
    @property
    def summary(self) -> str: ...
    @property
    def state(self) -> str: ...  # firing | resolved
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime | None: ...
    @property
    def labels(self) -> Mapping[str, str]: ...


class TrailLike(Protocol):
    """`lbguard.store.Store`'s append: one hash-chained event per call."""

    def append(
        self,
        kind: str,
        body: Mapping[str, Any],
        *,
        subject: str | None = None,
        at: datetime | None = None,
    ) -> object: ...


@dataclass(frozen=True)
class Action:
    """One runtime API command, and why."""

    pool: str
    server: str
    what: str  # drain, weight, restore-weight, ready
    command: str
    why: str
    fingerprint: str
    undo: bool = False


@dataclass(frozen=True)
class Refusal:
    pool: str
    server: str | None
    why: str
    fingerprint: str


@dataclass(frozen=True)
class Panic:
    """More than the panic threshold of a pool is unhealthy: stop, undo, alert."""

    pool: str
    unhealthy: tuple[str, ...]
    total: int
    why: str
    cleared: bool = False


Outcome = Action | Refusal | Panic


@dataclass
class _Applied:
    server: str
    what: str
    fingerprint: str
    prior_weight: int
    drained: bool


@dataclass
class Remediator:
    """The pure policy: what to do about an alert, given the pool's live state."""

    max_fraction: float = 0.10
    panic_threshold: float = 0.5
    overload_weight_pct: int = 50
    # Alert kinds (matched as substrings) and the action each calls for.
    actions: Mapping[str, str] = field(
        default_factory=lambda: {"overload": "weight", "imbalance": "drain"}
    )
    applied: dict[str, dict[str, _Applied]] = field(default_factory=dict)
    firing: dict[str, dict[str, str]] = field(default_factory=dict)  # pool -> fp -> server
    panicking: set[str] = field(default_factory=set)

    def verb_for(self, kind: str) -> str | None:
        for key, verb in self.actions.items():
            if key in kind:
                return verb
        return None

    def adopt(self, pool: str, server: str, what: str, fingerprint: str, prior: int) -> None:
        """Take over an action that a previous run sent and did not undo, so that its
        alert's resolve still undoes it (`what` is "weight" or "drain")."""
        self.applied.setdefault(pool, {})[server] = _Applied(
            server, what, fingerprint, prior, what == "drain"
        )

    def limit(self, pool: PoolState) -> int:
        """How many servers of the pool may be acted on at once: the fraction, at least one."""
        return max(1, math.floor(self.max_fraction * len(pool.servers) + 1e-9))

    def on_alert(self, alert: AlertLike, pool: PoolState) -> list[Outcome]:
        name = pool.name
        fp = alert.fingerprint
        firing = self.firing.setdefault(name, {})
        if alert.state == "resolved":
            firing.pop(fp, None)
            out: list[Outcome] = []
            applied = self.applied.get(name, {})
            for server, a in list(applied.items()):
                if a.fingerprint == fp:
                    out.extend(
                        self._undo(name, applied.pop(server), f"alert resolved: {alert.summary}")
                    )
            out.extend(self._check_panic(pool))
            return out
        if alert.server:
            firing[fp] = alert.server
        panic = self._check_panic(pool)
        if name in self.panicking:
            if panic:
                return panic
            return [Refusal(name, alert.server, "panic: this pool is not acted on", fp)]
        out = list(panic)
        verb = self.verb_for(alert.kind)
        if verb is None:
            return out
        if not alert.server:
            return [*out, Refusal(name, None, f"'{alert.kind}' alert names no server", fp)]
        target = pool.server(alert.server)
        if target is None:
            return [*out, Refusal(name, alert.server, "HAProxy has no such server", fp)]
        if target.agent:
            # The agent's next answer would overwrite the weight or state set here, and
            # the undo would then overwrite the agent's: two controllers, one knob.
            return [
                *out,
                Refusal(
                    name,
                    alert.server,
                    "it has an agent-check, which sets its weight and state: the agent "
                    "already lowers it under load, and would undo a change made here",
                    fp,
                ),
            ]
        applied = self.applied.setdefault(name, {})
        if alert.server in applied:
            return out  # already acted on, by this alert or another
        if len(applied) >= self.limit(pool):
            return [
                *out,
                Refusal(
                    name,
                    alert.server,
                    f"already acting on {len(applied)} of {len(pool.servers)} servers; "
                    f"at most {self.limit(pool)} at once ({self.max_fraction:.0%}, at least one)",
                    fp,
                ),
            ]
        subject = f"{name}/{alert.server}"
        others = [
            s for s in pool.servers if s.active and s.name != alert.server and s.name not in applied
        ]
        if verb == "drain":
            if not others:
                return [
                    *out,
                    Refusal(
                        name,
                        alert.server,
                        "never drain the last active server of a pool",
                        fp,
                    ),
                ]
            applied[alert.server] = _Applied(alert.server, "drain", fp, target.weight, True)
            return [
                *out,
                Action(
                    name,
                    alert.server,
                    "drain",
                    f"set server {subject} state drain",
                    f"{alert.kind}: {alert.summary}",
                    fp,
                ),
            ]
        if not others:
            # Weights are relative: the only server taking traffic keeps all of it
            # whatever its weight, so lowering it would be a change that does nothing.
            return [
                *out,
                Refusal(
                    name,
                    alert.server,
                    "never down-weight the last active server of a pool: it would still take "
                    "every request",
                    fp,
                ),
            ]
        new_weight = max(1, round(target.initial_weight * self.overload_weight_pct / 100))
        if new_weight >= target.weight:
            return out
        applied[alert.server] = _Applied(alert.server, "weight", fp, target.weight, False)
        return [
            *out,
            Action(
                name,
                alert.server,
                "weight",
                f"set server {subject} weight {new_weight}",
                f"{alert.kind}: {alert.summary}",
                fp,
            ),
        ]

    def _undo(self, pool: str, a: _Applied, why: str) -> list[Outcome]:
        subject = f"{pool}/{a.server}"
        if a.drained:
            return [
                Action(
                    pool,
                    a.server,
                    "ready",
                    f"set server {subject} state ready",
                    why,
                    a.fingerprint,
                    True,
                )
            ]
        return [
            Action(
                pool,
                a.server,
                "restore-weight",
                f"set server {subject} weight {a.prior_weight}",
                why,
                a.fingerprint,
                True,
            )
        ]

    def _check_panic(self, pool: PoolState) -> list[Outcome]:
        name = pool.name
        unhealthy = {s.name for s in pool.servers if not s.healthy}
        unhealthy.update(
            s for s in self.firing.get(name, {}).values() if pool.server(s) is not None
        )
        total = len(pool.servers)
        over = total > 0 and len(unhealthy) / total > self.panic_threshold
        if over and name not in self.panicking:
            self.panicking.add(name)
            why = (
                f"{len(unhealthy)} of {total} servers of '{name}' look unhealthy (more than "
                f"{self.panic_threshold:.0%}): the cause is probably shared, so remediation stops "
                "here and undoes its actions"
            )
            out: list[Outcome] = [Panic(name, tuple(sorted(unhealthy)), total, why)]
            applied = self.applied.pop(name, {})
            for a in applied.values():
                out.extend(self._undo(name, a, "panic: spreading traffic over every server"))
            return out
        if not over and name in self.panicking:
            self.panicking.discard(name)
            return [
                Panic(
                    name,
                    tuple(sorted(unhealthy)),
                    total,
                    f"{len(unhealthy)} of {total} servers unhealthy: remediation resumes",
                    cleared=True,
                )
            ]
        return []


@dataclass(frozen=True)
class PanicAlert:
    """The alert raised when remediation stops at the panic threshold (AlertLike)."""

    fingerprint: str
    kind: str
    severity: str
    balancer: str
    pool: str | None
    server: str | None
    summary: str
    state: str
    starts_at: datetime
    ends_at: datetime | None
    labels: Mapping[str, str]


@dataclass
class Executor:
    """Reads the live pool, asks the policy, sends (or prints) commands, records each one."""

    api: RuntimeClient
    policy: Remediator = field(default_factory=Remediator)
    trail: TrailLike | None = None
    dry_run: bool = True
    who: str = "lbguard watch --remediate"
    echo: Callable[[str], None] = print
    alert_sink: Callable[[PanicAlert], None] | None = None
    _panic_started: dict[str, datetime] = field(default_factory=dict)

    def on_alert(self, alert: AlertLike) -> list[Outcome]:
        """The watch daemon's `on_alert` hook."""
        if not alert.pool:
            return []
        try:
            pool = self.api.pool_state(alert.pool)
        except LbguardError as exc:
            # The alert itself is delivered by watch either way; remediation only
            # notes that it could not look, and never takes watch down with it.
            self.echo(f"remediate: cannot act on {alert.pool}: {exc.message}")
            self._record(
                alert.pool,
                alert.server,
                {"what": "error", "why": exc.message, "fingerprint": alert.fingerprint},
            )
            return []
        outcomes = self.policy.on_alert(alert, pool)
        for outcome in outcomes:
            if isinstance(outcome, Action):
                self._act(outcome)
            elif isinstance(outcome, Refusal):
                self._record(
                    outcome.pool,
                    outcome.server,
                    {"what": "refused", "why": outcome.why, "fingerprint": outcome.fingerprint},
                )
                self.echo(f"remediate: refused on {outcome.pool}/{outcome.server}: {outcome.why}")
            else:
                self._panic(outcome, alert.balancer)
        return outcomes

    def _act(self, action: Action) -> None:
        error = None
        if self.dry_run:
            self.echo(f"remediate: dry-run, would send: {action.command}")
        else:
            try:
                answer = self.api.command(action.command).strip()
            except LbguardError as exc:  # unreachable, timed out, or "Permission denied"
                error = exc.message
                self.echo(f"remediate: not applied: {action.command}: {error}")
            else:
                if answer:
                    error = answer.splitlines()[0]
                    self.echo(f"remediate: HAProxy refused '{action.command}': {error}")
                else:
                    self.echo(f"remediate: sent: {action.command}")
        body: dict[str, Any] = {
            "what": action.what,
            "why": action.why,
            "command": action.command,
            "dry_run": self.dry_run,
            "undo": action.undo,
            "fingerprint": action.fingerprint,
        }
        if error:
            body["error"] = error
        self._record(action.pool, action.server, body)

    def _panic(self, panic: Panic, balancer: str) -> None:
        now = datetime.now(UTC)
        started = self._panic_started.setdefault(panic.pool, now)
        if panic.cleared:
            self._panic_started.pop(panic.pool, None)
        self.echo(f"remediate: {'panic cleared' if panic.cleared else 'PANIC'}: {panic.why}")
        self._record(
            panic.pool,
            None,
            {
                "what": "panic-cleared" if panic.cleared else "panic-stop",
                "why": panic.why,
                "unhealthy": list(panic.unhealthy),
                "servers": panic.total,
            },
        )
        if self.alert_sink is not None:
            self.alert_sink(
                PanicAlert(
                    fingerprint=f"remediation-panic/{balancer}/{panic.pool}",
                    kind="remediation-panic",
                    severity="critical",
                    balancer=balancer,
                    pool=panic.pool,
                    server=None,
                    summary=panic.why,
                    state="resolved" if panic.cleared else "firing",
                    starts_at=started,
                    ends_at=now if panic.cleared else None,
                    labels={"pool": panic.pool},
                )
            )

    def _record(self, pool: str, server: str | None, body: dict[str, Any]) -> None:
        if self.trail is None:
            return
        full = {"who": self.who, "pool": pool, "server": server, **body}
        self.trail.append("action", full, subject=f"{pool}/{server}" if server else pool)
