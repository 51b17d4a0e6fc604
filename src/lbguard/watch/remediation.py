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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from lbguard.watch.alerts import FIRING, RESOLVED, Alert, fingerprint, runbook_url
from lbguard.watch.thresholds import CONCENTRATION, OVERLOAD, SHARE_DEVIATION

if TYPE_CHECKING:
    from lbguard.health.remediate import Executor, PanicAlert, TrailLike

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
class Remediation:
    """The `on_alert` hook of one balancer: remediable alerts in, runtime API commands out."""

    balancer: str
    executor: Executor

    def __call__(self, alert: Alert) -> None:
        if alert.balancer != self.balancer or alert.kind not in ACTIONS:
            return
        self.executor.on_alert(alert)


def remediation(
    balancer: str,
    socket: str,
    *,
    apply: bool,
    publish: Callable[[Alert], None],
    trail: TrailLike | None = None,
    echo: Callable[[str], None] = print,
    max_fraction: float = 0.10,
    panic_threshold: float = 0.5,
    weight_percent: int = 50,
    timeout: float = 5.0,
) -> Remediation:
    """A hook acting on `balancer` through the stats socket at `socket` (dry-run unless
    `apply`); panics go to `publish`, the daemon's alert pipeline."""
    from lbguard.health.remediate import Executor, Remediator
    from lbguard.health.runtime_api import RuntimeAPI

    policy = Remediator(
        max_fraction=max_fraction,
        panic_threshold=panic_threshold,
        overload_weight_pct=weight_percent,
        actions=ACTIONS,
    )
    executor = Executor(
        RuntimeAPI(socket, timeout=timeout),
        policy,
        trail=trail,
        dry_run=not apply,
        echo=echo,
        alert_sink=lambda panic: publish(panic_alert(panic)),
    )
    return Remediation(balancer, executor)
