"""Probes as one more watch source: `lbguard watch --probe`.

nginx open source has no active health checks and its access log only speaks for
servers that get traffic, so a server that slows down or stops answering may go
unseen until users notice. With `--probe`, every poll of the wrapped source is
followed by `lbguard probe`'s check of every server of the config (the same code,
the same loopback-only rule unless `--allow-remote`), and its verdicts feed detection:

- a server the probe finds down is reported DOWN in the snapshot, when the balancer
  does not check it itself (no `check_status`: nginx, or HAProxy without `check`), so
  the expected shares and the pool-health alerts follow it as they follow HAProxy's
  own checks;
- a server whose probe latency is well above its own baseline (the `lbguard probe`
  rule: 3x, and at least 20 ms more) raises the `overload` condition for that server,
  with the usual hold and resolve hysteresis.

The baseline is learnt in memory from the first probes that were not overloaded;
nothing is judged before `WARMUP` of them. Each round is bounded: at most 16 probes at
once, each with its own timeout. A probe round that cannot run (no server to probe)
is reported once and never blinds the wrapped source.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from lbguard.errors import LbguardError
from lbguard.health.probe import BASELINE_ALPHA, ProbeReport, is_loopback, probe_config, unix_path
from lbguard.model import Config, HealthCheck, Pool
from lbguard.watch.detect import Condition
from lbguard.watch.snapshot import PoolSample, Snapshot
from lbguard.watch.thresholds import OVERLOAD

if TYPE_CHECKING:
    from collections.abc import Callable

    from lbguard.watch.collectors import Collector
    from lbguard.watch.collectors.configfile import ConfigFile

WARMUP = 3  # probes that were not overloaded before a server's baseline is trusted


def probed_pools(config: Config, path: str | None) -> list[Pool]:
    """The config's pools, each checked over HTTP at `path` when it has no HTTP check."""
    pools = [p for p in config.pools if not p.implicit and p.servers]
    if path is None:
        return pools
    return [
        p if p.health.kind == "http" else replace(p, health=HealthCheck("http", p.location, path))
        for p in pools
    ]


def remote_only(config: Config) -> bool:
    """True when no server of the config could be probed without `--allow-remote`."""
    for pool in config.pools:
        for s in pool.servers:
            host = s.option("addr") or s.address
            if host and (unix_path(host) is not None or is_loopback(host)):
                return False
    return True


class Probing:
    """Wraps a collector: its snapshot, with every server's probe verdict merged in."""

    def __init__(
        self,
        inner: Collector,
        config: ConfigFile,
        *,
        timeout: float = 2.0,
        allow_remote: bool = False,
        path: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.config = config
        self.timeout = timeout
        self.allow_remote = allow_remote
        self.path = path
        self.log = log
        self.source = inner.source
        self.report: ProbeReport | None = None
        self.rounds = 0
        self._baselines: dict[str, float] = {}
        self._samples: dict[str, int] = {}
        self._error = ""

    async def collect(self) -> Snapshot:
        snapshot = await self.inner.collect()
        config, _ = self.config.current()
        try:
            report = await asyncio.to_thread(self._probe, config)
        except LbguardError as exc:
            if exc.message != self._error and self.log is not None:
                self.log(f"cannot probe the servers of {self.config.path}: {exc.message}")
            self._error, self.report = exc.message, None
            return snapshot
        self._error = ""
        self.report = report
        self.rounds += 1
        self._learn(report)
        return merge(snapshot, report)

    def _probe(self, config: Config) -> ProbeReport:
        trusted = {k: v for k, v in self._baselines.items() if self._samples[k] >= WARMUP}
        return probe_config(
            probed_pools(config, self.path),
            timeout=self.timeout,
            allow_remote=self.allow_remote,
            baselines=trusted,
        )

    def _learn(self, report: ProbeReport) -> None:
        """Blend healthy latencies into each baseline; an overloaded server teaches nothing."""
        for r in report.servers:
            if r.status != "up" or r.latency is None:
                continue
            old = self._baselines.get(r.key)
            self._baselines[r.key] = (
                r.latency if old is None else old + BASELINE_ALPHA * (r.latency - old)
            )
            self._samples[r.key] = self._samples.get(r.key, 0) + 1

    def conditions(self) -> list[Condition]:
        """The overload conditions of the latest probe round (an `Engine` signal)."""
        if self.report is None:
            return []
        return [
            Condition(
                OVERLOAD,
                r.pool,
                r.server,
                f"{r.server} is overloaded: probe {r.reason}",
                labels={"signal": f"probe-{r.signal or 'latency'}"},
                value=r.latency or 0.0,
            )
            for r in self.report.servers
            if r.status == "overloaded"
        ]

    async def close(self) -> None:
        await self.inner.close()


def merge(snapshot: Snapshot, report: ProbeReport) -> Snapshot:
    """`snapshot` with servers the probe found down marked DOWN, where the balancer has
    no check of its own to say so."""
    down = {(r.pool, r.server): r.reason for r in report.servers if r.status == "down"}
    if not down:
        return snapshot
    pools = dict(snapshot.pools)
    for name, pool in snapshot.pools.items():
        servers = tuple(
            replace(s, status="DOWN", check_status="probe: " + down[(name, s.name)])
            if (name, s.name) in down
            and not s.check_status
            and s.status.startswith(("UP", "no check"))
            else s
            for s in pool.servers
        )
        if servers != pool.servers:
            pools[name] = PoolSample(pool.name, servers, pool.status, pool.algorithm)
    return replace(snapshot, pools=pools)
