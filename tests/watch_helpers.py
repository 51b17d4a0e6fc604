"""Building snapshots from plain numbers, for the watch tests and the benchmark."""

from __future__ import annotations

from collections.abc import Mapping

from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot


def pool(
    name: str,
    lbtot: Mapping[str, int],
    *,
    status: Mapping[str, str] | None = None,
    weight: Mapping[str, int] | None = None,
    backup: tuple[str, ...] = (),
    algorithm: str = "roundrobin",
    **gauges: Mapping[str, float],
) -> PoolSample:
    servers = []
    for server, n in lbtot.items():
        extra = {k: v[server] for k, v in gauges.items() if server in v}
        w = (weight or {}).get(server, 1)
        servers.append(
            ServerSample(
                server,
                status=(status or {}).get(server, "UP"),
                weight=w,
                user_weight=w,
                backup=server in backup,
                lbtot=n,
                stot=n,
                **extra,  # type: ignore[arg-type]
            )
        )
    return PoolSample(name, tuple(servers), algorithm=algorithm)


def snapshot(at: float, *pools: PoolSample) -> Snapshot:
    return Snapshot(at, {p.name: p for p in pools})
