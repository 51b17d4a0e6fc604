"""`lbguard watch --remediate`: health's remediation executor, plugged into watch's alerts.

The policy and its safety rules live in `lbguard.health.remediate`; this module only
connects them to the daemon. It decides three things:

- which alerts reach the executor: `overload`, `concentration` and `share-deviation`
  (the remediable kinds), and no others. Alerts that remediation causes itself
  (`weight-drift` after a `set weight`) or that no weight can fix (`blind`,
  `no-active-server`) would otherwise count towards the panic threshold or be acted on.
- what acting means: every remediable kind lowers the named server's weight
  (`set server B/S weight N`, half its configured weight by default). The server that
  a concentration or share-deviation alert names is the one receiving too much, so it
  is the overloaded one; lowering its weight moves part of its traffic to its peers,
  while draining it would push all of it onto them at once. The last active server
  is never touched: weights are relative, so it would keep every request anyway.
- where the panic alert goes: through `Daemon.publish`, like any other alert, so it
  is logged, recorded in the trail, queued for every receiver and shown in metrics.

The runtime API is a blocking socket with a timeout, and a hung HAProxy would hold
each command for that long; so the hook never runs a command on the watcher's event
loop. It hands each alert to its own worker thread, one at a time and in order (a
resolve is never acted on before its firing), and the daemon waits for that worker
to finish what it was given before it exits.

A restart must not strand an action: every action record names its balancer and the
weight it replaced, and a new hook replays the trail (what was sent and not yet
undone) and the daemon's restored firing alerts, so the resolve that comes after the
restart still undoes what the previous run did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from lbguard.runbooks import runbook_url
from lbguard.watch.alerts import FIRING, RESOLVED, Alert, fingerprint
from lbguard.watch.thresholds import CONCENTRATION, OVERLOAD, SHARE_DEVIATION

if TYPE_CHECKING:
    from lbguard.health.remediate import Executor, PanicAlert, Remediator
    from lbguard.store import Store

REMEDIATION_PANIC = "remediation-panic"
# Alert kind -> the runtime API action it calls for (see the module docstring).
ACTIONS: Mapping[str, str] = MappingProxyType(
    {OVERLOAD: "weight", CONCENTRATION: "weight", SHARE_DEVIATION: "weight"}
)


def socket_path(spec: str) -> str | None:
    """The stats socket path of a `--haproxy-stats` value, or None for a read-only source."""
    if spec.startswith("unix:"):
        return spec.removeprefix("unix:")
    return spec if spec.startswith("/") else None


def level_problem(socket: str, timeout: float = 5.0) -> str | None:
    """Why `--apply` could not act through `socket`, or None: HAProxy answers every
    `set server` with "Permission denied" below `level admin`. A socket that does not
    answer yet is no verdict: watch starts anyway and reports it as blind."""
    from lbguard.errors import LbguardError
    from lbguard.haproxy_runtime import Endpoint, RuntimeClient

    try:
        level = RuntimeClient(Endpoint(path=socket), timeout).command("show cli level").strip()
    except LbguardError:
        return None
    if level in ("admin", ""):
        return None
    return (
        f"--apply needs HAProxy's stats socket at level admin; {socket} is at level "
        f"'{level.splitlines()[0]}' (add 'level admin' to its 'stats socket' line)"
    )


def panic_alert(panic: PanicAlert) -> Alert:
    """The executor's panic as a watch alert: fingerprinted, labelled and runbooked alike."""
    pool = panic.pool or ""
    labels = {"balancer": panic.balancer, "kind": REMEDIATION_PANIC, **panic.labels}
    return Alert(
        fingerprint(panic.balancer, pool, "", REMEDIATION_PANIC),
        REMEDIATION_PANIC,
        panic.severity,
        panic.balancer,
        pool,
        "",
        panic.summary,
        RESOLVED if panic.state == RESOLVED else FIRING,
        panic.starts_at,
        panic.ends_at,
        labels,
        runbook_url(REMEDIATION_PANIC),
    )


@dataclass
class _Trail:
    """The store, with each action record naming its balancer and the weight it replaced."""

    store: Store
    balancer: str
    policy: Remediator

    def append(
        self,
        kind: str,
        body: Mapping[str, Any],
        *,
        subject: str | None = None,
        at: datetime | None = None,
    ) -> object:
        full = {**body, "balancer": self.balancer}
        applied = self.policy.applied.get(str(body.get("pool")), {}).get(str(body.get("server")))
        if applied is not None and body.get("what") in ("weight", "drain"):
            full["prior_weight"] = applied.prior_weight
        return self.store.append(kind, full, subject=subject, at=at)


def replay(policy: Remediator, balancer: str, store: Store, firing: Iterable[Alert]) -> int:
    """Seed `policy` with the actions a previous run sent and did not undo; their count."""
    since = datetime.now(UTC) - timedelta(days=30)
    for record in store.records(since=since, kinds=["action"]):
        body = record.body
        if body.get("balancer") != balancer or body.get("dry_run") or body.get("error"):
            continue
        pool, server, what = str(body.get("pool")), str(body.get("server")), body.get("what")
        prior = body.get("prior_weight")
        if what in ("weight", "drain") and isinstance(prior, int):
            policy.adopt(pool, server, str(what), str(body["fingerprint"]), prior)
        elif what in ("restore-weight", "ready"):
            policy.applied.get(pool, {}).pop(server, None)
    for alert in firing:
        if alert.balancer == balancer and alert.kind in ACTIONS and alert.server:
            policy.firing.setdefault(alert.pool, {})[alert.fingerprint] = alert.server
    return sum(len(servers) for servers in policy.applied.values())


@dataclass
class Remediation:
    """The `on_alert` hook of one balancer: remediable alerts in, runtime API commands out,
    on a worker thread of its own (see the module docstring)."""

    balancer: str
    executor: Executor
    echo: Callable[[str], None] = print
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="lbguard-remediate")
    )

    def __call__(self, alert: Alert) -> None:
        if alert.balancer != self.balancer or alert.kind not in ACTIONS:
            return
        self._worker.submit(self._act, alert)

    def _act(self, alert: Alert) -> None:
        try:
            self.executor.on_alert(alert)
        except Exception as exc:  # reported like a failing hook; the next alert still runs
            subject = f"{alert.kind} for {alert.pool}/{alert.server}"
            self.echo(f"remediate: acting on {subject} failed: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Finish every alert already handed over, then stop the worker."""
        self._worker.shutdown(wait=True)


def remediation(
    balancer: str,
    socket: str,
    *,
    apply: bool,
    publish: Callable[[Alert], None],
    trail: Store | None = None,
    firing: Iterable[Alert] = (),
    echo: Callable[[str], None] = print,
    max_fraction: float = 0.10,
    panic_threshold: float = 0.5,
    weight_percent: int = 50,
    timeout: float = 5.0,
) -> Remediation:
    """A hook acting on `balancer` through the stats socket at `socket` (dry-run unless
    `apply`); panics go to `publish`, the daemon's alert pipeline. With a `trail`, the
    actions of a previous run still in force (and the `firing` alerts the daemon
    restored) are picked up, so they are undone when their alerts resolve."""
    from lbguard.haproxy_runtime import Endpoint, RuntimeClient
    from lbguard.health.remediate import Executor, Remediator

    policy = Remediator(
        max_fraction=max_fraction,
        panic_threshold=panic_threshold,
        overload_weight_pct=weight_percent,
        actions=ACTIONS,
    )
    if trail is not None:
        kept = replay(policy, balancer, trail, firing)
        if kept:
            echo(f"remediate: {kept} action(s) of a previous run still in force on {balancer}")
    executor = Executor(
        RuntimeClient(Endpoint(path=socket), timeout),
        policy,
        trail=_Trail(trail, balancer, policy) if trail is not None else None,
        dry_run=not apply,
        echo=echo,
        alert_sink=lambda panic: publish(panic_alert(panic)),
    )
    return Remediation(balancer, executor, echo)
