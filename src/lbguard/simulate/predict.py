"""Per-pool predictions in the shape every command shares (simulate, diff, verify, watch)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lbguard.model import Dialect, Pool, Server
from lbguard.simulate.engine import Result, gini, simulate
from lbguard.simulate.traffic import Request, Trace, TrafficModel


def server_state(pool: Pool, server: Server) -> str:
    if server.disabled:
        return "down" if pool.kind == "upstream" else "disabled"
    return "backup" if server.backup else "active"


@dataclass
class Prediction:
    pool: Pool
    dialect: Dialect
    predicted: dict[str, float]
    expected: dict[str, float]
    notes: list[str] = field(default_factory=list)
    failed: float = 0.0

    @property
    def max_share(self) -> float:
        return max(self.predicted.values(), default=0.0)

    @property
    def gini(self) -> float:
        return gini(list(self.predicted.values()))

    def as_json(self, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "name": self.pool.name,
            "balancer": self.dialect.value,
            "algorithm": self.pool.balance.algorithm,
            "servers": [
                {
                    "name": s.name,
                    "address": s.endpoint,
                    "weight": s.weight,
                    "state": server_state(self.pool, s),
                    "expected_share": round(self.expected.get(s.name, 0.0), 6),
                    "predicted_share": round(self.predicted.get(s.name, 0.0), 6),
                }
                for s in self.pool.servers
            ],
            "max_share": round(self.max_share, 6),
            "gini": round(self.gini, 6),
            "failed_share": round(self.failed, 6),
            "notes": self.notes,
            "findings": findings or [],
        }


_UNSEEN: Any = object()


def shape(pool: Pool, dialect: Dialect) -> tuple[Any, ...]:
    """What the model's answer depends on; pools of the same shape share one run."""
    names_matter = dialect is Dialect.NGINX and pool.balance.hash_type == "consistent"
    # A parsed config shares one options tuple among the servers written alike, so
    # each distinct tuple is searched for its `id` once.
    ids: dict[int, str | None] = {}
    servers = []
    for i, s in enumerate(pool.servers):
        server_id = ids.get(id(s.options), _UNSEEN)
        if server_id is _UNSEEN:
            server_id = ids[id(s.options)] = s.option("id")
        servers.append((s.weight, s.backup, s.disabled, server_id, s.name if names_matter else i))
    hash_lines = tuple(d.args for d in pool.directives if d.name == "hash-type")
    return (
        dialect,
        pool.balance.algorithm,
        pool.balance.args,
        pool.balance.key,
        pool.balance.hash_type,
        hash_lines,
        pool.has_flag("allbackups"),
        pool.workers,
        tuple(servers),
    )


@lru_cache(maxsize=4)
def _trace(model: TrafficModel) -> Trace:
    return model.generate()


_CACHE: dict[tuple[Any, ...], tuple[list[float], float, tuple[str, ...]]] = {}


def predict(
    pool: Pool,
    dialect: Dialect,
    model: TrafficModel | None = None,
    trace: Trace | None = None,
    *,
    pool_shape: tuple[Any, ...] | None = None,
) -> Prediction:
    """Predicted shares under `trace` (or the synthetic `model`), plus weight shares.

    `pool_shape` is `shape(pool, dialect)` when the caller has already worked it out
    (LBG111 does, to count distinct shapes): it is not cheap on a pool of many servers.
    """
    model = model or TrafficModel()
    expected = pool.weight_shares()
    if not pool.servers:
        return Prediction(pool, dialect, {}, expected)
    if pool_shape is None:
        pool_shape = shape(pool, dialect)
    key = (pool_shape, model if trace is None else id(trace))
    cached = _CACHE.get(key)
    if cached is None:
        from lbguard.simulate.queueing import Load

        load = (
            Load(model.rate, model.duration, model.seed) if model.rate and model.duration else None
        )
        result: Result = simulate(pool, dialect, trace or _trace(model), seed=model.seed, load=load)
        total = max(int(result.picks.size), 1)
        counts = result.counts()
        cached = ([float(c) / total for c in counts], result.failed / total, tuple(result.notes))
        if trace is None:
            _CACHE[key] = cached
    shares, failed, notes = cached
    predicted: dict[str, float] = {}
    for server, share in zip(pool.servers, shares, strict=True):
        predicted[server.name] = predicted.get(server.name, 0.0) + share
    return Prediction(pool, dialect, predicted, expected, list(notes), failed)


def key_function(pool: Pool, dialect: Dialect) -> Callable[[Request], object]:
    """What the pool hashes for a request (None when the request has no key)."""
    if dialect is Dialect.HAPROXY:
        from lbguard.simulate.haproxy_model import key_extractor

        return key_extractor(pool)
    from lbguard.simulate.nginx_model import evaluate_key

    key = pool.balance.key or ""
    if pool.balance.algorithm == "ip_hash":
        return lambda req: ".".join(req.client.split(".")[:3])
    return lambda req: evaluate_key(key, req) or None
