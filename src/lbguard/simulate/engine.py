"""Running a trace through a pool's model and summarising where the traffic went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lbguard.model import Dialect, Pool
from lbguard.simulate.haproxy_model import HaproxyScheduler
from lbguard.simulate.nginx_model import NginxScheduler
from lbguard.simulate.traffic import Request, Trace

Scheduler = HaproxyScheduler | NginxScheduler

# Algorithms whose choice never looks at the request: their sequence is periodic.
_REQUEST_BLIND = {
    Dialect.HAPROXY: {"roundrobin", "static-rr", "leastconn", "first"},
    Dialect.NGINX: {"round_robin", "least_conn"},
}


def scheduler_for(pool: Pool, dialect: Dialect, seed: int = 1) -> Scheduler:
    if dialect is Dialect.HAPROXY:
        return HaproxyScheduler(pool)
    return NginxScheduler(pool, seed=seed)


@dataclass
class Result:
    pool: Pool
    picks: np.ndarray  # server index per request, -1 when no server could be chosen
    notes: list[str] = field(default_factory=list)

    def counts(self) -> np.ndarray:
        n = len(self.pool.servers)
        valid = self.picks[self.picks >= 0]
        return np.bincount(valid, minlength=n)[:n]

    def shares(self) -> dict[str, float]:
        counts = self.counts()
        total = int(self.picks.size)
        names = [s.name for s in self.pool.servers]
        return {
            name: (float(c) / total if total else 0.0)
            for name, c in zip(names, counts, strict=True)
        }

    @property
    def failed(self) -> int:
        return int(np.count_nonzero(self.picks < 0))


def _periodic(sched: Scheduler, n: int, period_hint: int) -> np.ndarray:
    """Run the model long enough to see its cycle, then repeat the cycle."""
    probe = min(n, max(4 * period_hint, 64))
    dummy = Request("127.0.0.1")
    seq = np.fromiter((sched.pick(dummy) for _ in range(probe)), dtype=np.int64, count=probe)
    if probe == n:
        return seq
    # The state after a whole number of cycles repeats; find the shortest cycle that
    # the second half of the probe confirms.
    half = probe // 2
    for p in range(1, half + 1):
        if np.array_equal(seq[half : probe - p], seq[half + p : probe]):
            start = half
            cycle = seq[start : start + p]
            head = seq[:start]
            reps = -(-(n - start) // p)
            return np.concatenate([head, np.tile(cycle, reps)])[:n]
    rest = np.fromiter((sched.pick(dummy) for _ in range(n - probe)), dtype=np.int64)
    return np.concatenate([seq, rest])


def simulate(
    pool: Pool, dialect: Dialect, trace: Trace | Sequence[Request], seed: int = 1
) -> Result:
    sched = scheduler_for(pool, dialect, seed)
    requests = trace.requests if isinstance(trace, Trace) else list(trace)
    n = len(requests)
    if pool.balance.algorithm in _REQUEST_BLIND[dialect] and pool.workers <= 1:
        hint = sum(max(s.weight, 1) for s in pool.servers) * 16
        picks = _periodic(sched, n, hint)
    else:
        picks = np.fromiter((sched.pick(r) for r in requests), dtype=np.int64, count=n)
    return Result(pool, picks, list(sched.notes))


def gini(shares: Sequence[float]) -> float:
    """0 when traffic is spread evenly over the servers, towards 1 when one takes all."""
    values = np.sort(np.asarray(shares, dtype=float))
    n = values.size
    if n == 0 or values.sum() == 0:
        return 0.0
    index = np.arange(1, n + 1)
    return float((2 * np.sum(index * values) / (n * values.sum())) - (n + 1) / n)
