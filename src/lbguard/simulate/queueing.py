"""Connection-count algorithms under a stated load: Poisson arrivals, exponential durations.

leastconn, first and least_conn choose by how many requests each server has in
flight, which the config does not say. With `rate` and `duration` given, requests
arrive as a Poisson process (seeded) and each holds its server for an exponentially
distributed time; the pick at each arrival uses the in-flight counts of that moment,
with each balancer's own tie-breaking. Without them, requests do not overlap.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from lbguard.model import Dialect, Pool
from lbguard.simulate.haproxy_model import HaproxyScheduler, server_ids
from lbguard.simulate.hashes import full_hash
from lbguard.simulate.traffic import Trace


@dataclass(frozen=True)
class Load:
    rate: float  # requests per second
    duration: float  # mean seconds a request holds its server
    seed: int = 1

    def describe(self) -> str:
        return (
            f"Poisson arrivals at {self.rate:g}/s, exponential service with mean "
            f"{self.duration * 1000:g} ms (seed {self.seed}): about "
            f"{self.rate * self.duration:.1f} requests in flight"
        )


def bounded_load_picks(pool: Pool, trace: Trace, load: Load, factor: int) -> np.ndarray:
    """HAProxy consistent hashing with `hash-balance-factor`: bounded loads under `load`.

    A server may serve at most its weighted slice of ceil((served + 1) x F / 100)
    requests at once; a request whose node is over its bound walks clockwise to the
    next node whose server is under it (lb_chash.c chash_server_is_eligible).
    """
    sched = HaproxyScheduler(pool)
    ring = sched.ring
    n = len(trace)
    rng = np.random.default_rng(load.seed)
    arrivals = np.cumsum(rng.exponential(1.0 / load.rate, size=n))
    durations = rng.exponential(load.duration, size=n)
    members = sched.members
    eweight = {i: 16 * pool.servers[i].weight for i in members}
    tot_weight = sum(eweight.values()) or 1
    cumulative: dict[int, int] = {}
    running = 0
    for i in members:
        cumulative[i] = running
        running += eweight[i]
    served = dict.fromkeys(members, 0)
    ends: list[tuple[float, int]] = []
    picks = np.full(n, -1, dtype=np.int64)
    for r, req in enumerate(trace.requests):
        now = float(arrivals[r])
        while ends and ends[0][0] <= now:
            _, s = heapq.heappop(ends)
            served[s] -= 1
        key = sched.key(req)
        if key is None or not ring.keys:
            choice = sched.fallback()
        else:
            h = key if isinstance(key, int) else sched.hashfn(key)
            if sched.spec.avalanche:
                h = full_hash(h)
            index = ring.lookup_index(h)
            assert index is not None
            total_served = sum(served.values())
            tot_slots = -(-((total_served + 1) * factor) // 100)
            choice = ring.servers[index]
            for step in range(len(ring.keys)):
                s = ring.servers[(index + step) % len(ring.keys)]
                e, c = eweight[s], cumulative[s]
                rem = tot_slots % tot_weight
                slots = (
                    e * (tot_slots // tot_weight)
                    + ((c + e) * rem) // tot_weight
                    - (c * rem) // tot_weight
                )
                if served[s] < max(slots, 1):
                    choice = s
                    break
        picks[r] = choice
        if choice >= 0:
            served[choice] += 1
            heapq.heappush(ends, (now + float(durations[r]), choice))
    return picks


def queueing_picks(pool: Pool, dialect: Dialect, n: int, load: Load) -> np.ndarray:
    rng = np.random.default_rng(load.seed)
    arrivals = np.cumsum(rng.exponential(1.0 / load.rate, size=n))
    durations = rng.exponential(load.duration, size=n)
    servers = pool.servers
    active = [i for i, s in enumerate(servers) if not s.disabled and s.weight > 0 and not s.backup]
    if not active:
        active = [i for i, s in enumerate(servers) if not s.disabled and s.weight > 0]
    inflight = dict.fromkeys(active, 0)
    touched = {i: k for k, i in enumerate(active)}
    seq = len(active)
    ends: list[tuple[float, int]] = []
    picks = np.full(n, -1, dtype=np.int64)
    ids = server_ids(servers)
    current = dict.fromkeys(active, 0)
    algo = pool.balance.algorithm
    for r in range(n):
        now = float(arrivals[r])
        while ends and ends[0][0] <= now:
            _, s = heapq.heappop(ends)
            inflight[s] -= 1
            seq += 1
            touched[s] = seq  # released: re-inserted, newest among equal keys
        if not active:
            continue
        if dialect is Dialect.HAPROXY and algo == "first":
            free = [
                i
                for i in active
                if servers[i].maxconn is None or inflight[i] < (servers[i].maxconn or 0)
            ]
            choice = min(free or active, key=lambda i: ids[i])
        elif dialect is Dialect.HAPROXY:
            # leastconn: key 0 when idle, else (inflight + 1) * 4096 / eweight.
            def key(i: int) -> tuple[int, int]:
                k = 0 if inflight[i] == 0 else (inflight[i] + 1) * 4096 // (16 * servers[i].weight)
                return (k, touched[i])

            choice = min(active, key=key)
        else:
            # nginx least_conn: smallest conns/weight; ties share one smooth-WRR step.
            best = min(inflight[i] / servers[i].weight for i in active)
            tied = [i for i in active if inflight[i] / servers[i].weight == best]
            total = 0
            choice = tied[0]
            for i in tied:
                current[i] += servers[i].weight
                total += servers[i].weight
                if current[i] > current[choice]:
                    choice = i
            current[choice] -= total
        picks[r] = choice
        inflight[choice] += 1
        seq += 1
        touched[choice] = seq
        heapq.heappush(ends, (now + float(durations[r]), choice))
    return picks
