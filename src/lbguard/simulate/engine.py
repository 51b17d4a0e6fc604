"""Running a trace through a pool's model and summarising where the traffic went."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lbguard.model import Dialect, Pool
from lbguard.simulate.haproxy_model import HaproxyScheduler
from lbguard.simulate.nginx_model import NginxScheduler
from lbguard.simulate.queueing import Load, bounded_load_picks, queueing_picks
from lbguard.simulate.traffic import Columns, Request, Trace

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


def key_column(pool: Pool, dialect: Dialect) -> str | None:
    """The one trace column a hashing pool's key depends on, if there is one."""
    algo = pool.balance.algorithm
    key = (pool.balance.key or "").lower()
    if dialect is Dialect.HAPROXY:
        if algo == "source" or (algo == "hash" and key.split(",")[0] in ("src", "req.src")):
            return "client"
        if algo == "uri" and "whole" not in pool.balance.args:
            return "path"
        if algo == "url_param" and pool.balance.args[:1] == ("user",):
            return "user"
        if algo == "hash" and key == "path":
            return "path"
        if algo in ("uri", "url_param") or (algo == "hash" and key in ("url", "uri")):
            return "uri"
        if algo in ("hdr", "hash"):
            if key in ("hdr(host)", "req.hdr(host)"):
                return "host"
            if key in ("hdr(x-user)", "req.hdr(x-user)"):
                return "user"
        return None
    if algo == "ip_hash":
        return "client"
    if algo != "hash":
        return None
    variables = set(re.findall(r"\$\{?([a-z0-9_]+)", key))
    if not variables:
        return None
    if variables <= {"remote_addr", "binary_remote_addr"}:
        return "client"
    if variables == {"uri"}:
        return "path"
    if variables == {"arg_user"}:
        return "user"
    uri_vars = {"request_uri", "uri", "args", "query_string"}
    if all(v in uri_vars or v.startswith("arg_") for v in variables):
        return "uri"
    if variables <= {"host", "http_host"}:
        return "host"
    if variables == {"http_x_user"}:
        return "user"
    return None


def _by_column(sched: Scheduler, columns: Columns, column: str) -> np.ndarray:
    """Hash each distinct value once, gather per request, then fill key-less requests."""
    tables = {
        "client": (columns.clients, columns.client_ids),
        "uri": (columns.uris, columns.uri_ids),
        "host": (columns.hosts, columns.host_ids),
        "user": (columns.users, columns.user_ids),
        "path": (columns.paths, columns.path_ids),
    }
    table, ids = tables[column]
    direct = _nginx_direct_hash(sched, table, column)
    if direct is not None:
        gathered: np.ndarray = direct[ids]
        return gathered
    per_value = np.empty(len(table), dtype=np.int64)
    for j, value in enumerate(table):
        if column == "client":
            req = Request(value, "/", (("Host", "shop.example"), ("X-User", "u0")))
        elif column in ("uri", "path"):
            req = Request("0.0.0.0", value, (("Host", "shop.example"), ("X-User", "u0")))
        elif column == "host":
            req = Request("0.0.0.0", "/", (("Host", value), ("X-User", "u0")))
        else:
            # The user appears as the X-User header and as the ?user= argument.
            req = Request(
                "0.0.0.0", f"/?user={value}", (("Host", "shop.example"), ("X-User", value))
            )
        picked = sched.pure(req)
        per_value[j] = -2 if picked is None else picked
    picks: np.ndarray = per_value[ids]
    missing = np.flatnonzero(picks == -2)
    if missing.size:
        if isinstance(sched, NginxScheduler):
            fill = [sched.fallback(int(pos)) for pos in missing]
        else:
            fill = [sched.fallback() for _ in missing]
        picks[missing] = fill
    return picks


_CONNECTION_BASED = {
    Dialect.HAPROXY: {"leastconn", "first"},
    Dialect.NGINX: {"least_conn"},
}


def _nginx_direct_hash(sched: Scheduler, table: list[str], column: str) -> np.ndarray | None:
    """nginx `hash $request_uri` / `hash $uri` with every server up, for many keys at once.

    The key is the table value itself, so the per-key work is one zlib crc32 and the
    weighted walk is a searchsorted over cumulative weights.
    """
    if not isinstance(sched, NginxScheduler) or sched.algo != "hash":
        return None
    if sched.pool.balance.hash_type == "consistent" or sched.down or sched.single:
        return None
    key = sched.key.strip()
    if not ((key == "$request_uri" and column == "uri") or (key == "$uri" and column == "path")):
        return None
    if sched.total_weight <= 0 or any(not v for v in table):
        return None
    h = np.fromiter(
        ((zlib.crc32(v.encode()) >> 16) & 0x7FFF for v in table), dtype=np.int64, count=len(table)
    )
    cumulative = np.cumsum([sched.weights[p] for p in sched.primary])
    slot = np.searchsorted(cumulative, h % sched.total_weight, side="right")
    return np.asarray(sched.primary, dtype=np.int64)[slot]


def simulate(
    pool: Pool,
    dialect: Dialect,
    trace: Trace | Sequence[Request],
    seed: int = 1,
    load: Load | None = None,
) -> Result:
    """Every request's server, by the fastest exact route the algorithm allows."""
    sched = scheduler_for(pool, dialect, seed)
    if not isinstance(trace, Trace):
        trace = Trace(list(trace))
    n = len(trace)
    column = key_column(pool, dialect)
    if load is not None and pool.balance.algorithm in _CONNECTION_BASED[dialect]:
        picks = queueing_picks(pool, dialect, n, load)
        return Result(pool, picks, [f"{pool.balance.algorithm}: {load.describe()}"])
    factor = pool.balance.hash_balance_factor
    if (
        dialect is Dialect.HAPROXY
        and factor > 0
        and isinstance(sched, HaproxyScheduler)
        and sched.spec.method == "consistent"
        and pool.balance.is_hash
    ):
        if load is None:
            sched.notes.append(
                f"hash-balance-factor {factor}: no effect when requests do not overlap; "
                "give --rate and --duration-ms to model bounded loads"
            )
        else:
            picks = bounded_load_picks(pool, trace, load, factor)
            return Result(pool, picks, [f"hash-balance-factor {factor} under {load.describe()}"])
    if pool.balance.algorithm in _REQUEST_BLIND[dialect] and pool.workers <= 1:
        # The choice never looks at the request: run one cycle and repeat it.
        hint = sum(max(s.weight, 1) for s in pool.servers) * 16
        picks = _periodic(sched, n, hint)
    elif trace.columns is not None and column is not None:
        picks = _by_column(sched, trace.columns, column)
    else:
        picks = np.fromiter((sched.pick(r) for r in trace.requests), dtype=np.int64, count=n)
    return Result(pool, picks, list(sched.notes))


def gini(shares: Sequence[float]) -> float:
    """0 when traffic is spread evenly over the servers, towards 1 when one takes all."""
    values = np.sort(np.asarray(shares, dtype=float))
    n = values.size
    if n == 0 or values.sum() == 0:
        return 0.0
    index = np.arange(1, n + 1)
    return float((2 * np.sum(index * values) / (n * values.sum())) - (n + 1) / n)
