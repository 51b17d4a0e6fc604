"""What one poll of a balancer saw, and what changed between two polls.

Every collector (stats socket, HTTP stats page, Prometheus exporter, nginx access
log) produces a `Snapshot` of cumulative counters, so detection never needs to know
where the numbers came from. Detection works on `Interval`s: per-server increments of
those counters between two snapshots, with counter resets (a reload or restart zeroes
HAProxy's counters) treated as a fresh start rather than as negative traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lbguard.model import positional_constructor

# HAProxy status words that mean "takes traffic when picked" ("UP 1/3" is going down
# but still UP; "no check" is a server without health checks, always considered up).
_UP_PREFIXES = ("UP", "no check", "NOLB")


def is_up(status: str) -> bool:
    """True for a server that is up (DRAIN and NOLB servers are up but take no new traffic)."""
    return status.startswith(_UP_PREFIXES) or status == "DRAIN"


def takes_new_traffic(status: str) -> bool:
    """True for a server that the balancer may pick for a new request."""
    return status.startswith(("UP", "no check"))


@dataclass(frozen=True, slots=True)
class ServerSample:
    """One server's row: cumulative counters (lbtot, stot, hrsp_5xx, chkfail) and gauges."""

    name: str
    status: str = "UP"
    weight: int = 1  # effective weight now (0 when drained)
    user_weight: int | None = None  # weight set by the config or `set weight` (HAProxy uweight)
    backup: bool = False
    lbtot: int = 0
    stot: int = 0
    scur: int = 0
    slim: int | None = None
    qcur: int = 0
    rate: int = 0
    qtime_ms: float | None = None
    rtime_ms: float | None = None
    ttime_ms: float | None = None
    hrsp_5xx: int = 0
    responses: int = 0  # every HTTP response counted by class (hrsp_1xx..other)
    chkfail: int = 0
    lastchg: int | None = None
    check_status: str = ""
    throttle: int | None = None  # slowstart: percent of the weight in use, None when not ramping

    @property
    def up(self) -> bool:
        return is_up(self.status)

    @property
    def serving(self) -> bool:
        return takes_new_traffic(self.status)

    @property
    def drained(self) -> bool:
        return self.status in ("DRAIN", "NOLB") or (self.up and self.weight == 0)


@dataclass(frozen=True, slots=True)
class PoolSample:
    name: str
    servers: tuple[ServerSample, ...]
    status: str = "UP"
    algorithm: str | None = None  # as the stats source reports it (HAProxy `algo`), if any

    def server(self, name: str) -> ServerSample | None:
        for s in self.servers:
            if s.name == name:
                return s
        return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All pools of one balancer at one instant (`at` is a monotonic clock, in seconds)."""

    at: float
    pools: Mapping[str, PoolSample]
    source: str = ""


@dataclass(frozen=True, slots=True)
class ServerDelta:
    name: str
    picks: int  # lbtot increment: how often the balancer chose this server
    responses: int
    errors_5xx: int
    sample: ServerSample  # the newer sample, for gauges (scur, qcur, rtime, status)


@dataclass(frozen=True, slots=True)
class PoolInterval:
    name: str
    seconds: float
    servers: tuple[ServerDelta, ...]
    sample: PoolSample

    @property
    def total(self) -> int:
        return sum(s.picks for s in self.servers)

    def counts(self) -> dict[str, int]:
        return {s.name: s.picks for s in self.servers}


@dataclass(frozen=True, slots=True)
class Interval:
    """Increments between two snapshots of the same balancer."""

    seconds: float
    pools: dict[str, PoolInterval] = field(default_factory=dict)


_new_delta = positional_constructor(ServerDelta)


def interval(before: Snapshot, after: Snapshot) -> Interval:
    """Per-server increments from `before` to `after`; servers new in `after` start at 0.

    A counter that went down was reset (reload, restart, `clear counters`): what it
    holds now is what happened since.
    """
    pools: dict[str, PoolInterval] = {}
    for name, pool in after.pools.items():
        old_pool = before.pools.get(name)
        old = {s.name: s for s in old_pool.servers} if old_pool is not None else {}
        deltas = []
        for s in pool.servers:
            prev = old.get(s.name)
            if prev is None:
                deltas.append(_new_delta(s.name, 0, 0, 0, s))
                continue
            # Inlined `_increment`: this loop runs for every server on every poll.
            n, r, e = s.lbtot - prev.lbtot, s.responses - prev.responses, s.hrsp_5xx - prev.hrsp_5xx
            deltas.append(
                _new_delta(
                    s.name,
                    n if n >= 0 else s.lbtot,
                    r if r >= 0 else s.responses,
                    e if e >= 0 else s.hrsp_5xx,
                    s,
                )
            )
        pools[name] = PoolInterval(name, after.at - before.at, tuple(deltas), pool)
    return Interval(after.at - before.at, pools)
