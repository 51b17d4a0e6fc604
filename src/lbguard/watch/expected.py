"""What each server should receive, from the config's promise and the balancer's live state.

For weight-following algorithms (round-robin, static-rr, random, nginx's smooth
round-robin) the expected share is p_i = w_i / Σw over servers that are UP, not
backup and not drained, with w_i the weight written in the config (the promise; a
runtime `set weight` shows up as drift and as deviation) scaled by the slowstart
`throttle`. When no active server is left, HAProxy serves from the first backup (all
of them with `option allbackups`), and the expectation follows.

Hash and source algorithms spread by key, not by weight: their expected spread comes
from the simulator (`lbguard.simulate.predict`) and only extreme concentration alarms.
`leastconn` balances concurrency, so it is judged on `scur`, not on request counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lbguard.model import Dialect, Pool, Server
from lbguard.watch.snapshot import PoolSample, ServerSample

WEIGHTS = "weights"
HASH = "hash"
CONCURRENCY = "concurrency"
NONE = "none"

_HASH = {"source", "uri", "url_param", "hdr", "rdp-cookie", "hash", "ip_hash"}
_CONCURRENCY = {"leastconn", "least_conn"}
# `first` fills servers in order up to their maxconn: no share is promised at all.
_NO_SHARE = {"first"}


@dataclass(frozen=True)
class Expectation:
    """Expected shares of one pool right now, and how they may be judged."""

    mode: str  # weights | hash | concurrency | none
    shares: dict[str, float]
    # Shares from weights over every UP server, backup or not: what "fair" would be if
    # the config had not made some of them backups. Concentration alerts quote it.
    fair: dict[str, float] = field(default_factory=dict)
    on_backup: bool = False
    notes: tuple[str, ...] = ()


def _config_weight(model: Pool | None, sample: ServerSample) -> int:
    if model is not None:
        for server in model.servers:
            if server.name == sample.name:
                return server.weight
    if sample.user_weight is not None:
        return sample.user_weight
    return sample.weight


def _is_backup(model: Pool | None, sample: ServerSample) -> bool:
    if model is not None:
        for server in model.servers:
            if server.name == sample.name:
                return server.backup
    return sample.backup


def config_server(model: Pool | None, name: str) -> Server | None:
    if model is None:
        return None
    for server in model.servers:
        if server.name == name:
            return server
    return None


def mode_for(algorithm: str | None) -> str:
    if algorithm is None:
        return WEIGHTS
    if algorithm in _HASH:
        return HASH
    if algorithm in _CONCURRENCY:
        return CONCURRENCY
    if algorithm in _NO_SHARE:
        return NONE
    return WEIGHTS


def _normalise(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0:
        return {name: 0.0 for name in weights}
    return {name: w / total for name, w in weights.items()}


def expect(
    sample: PoolSample, model: Pool | None = None, dialect: Dialect | None = None
) -> Expectation:
    """The expected shares of `sample`'s servers, given the config pool `model` if known."""
    algorithm = model.balance.algorithm if model is not None else sample.algorithm
    mode = mode_for(algorithm)
    weights: dict[str, float] = {}
    backups: dict[str, float] = {}
    fair: dict[str, float] = {}
    for s in sample.servers:
        w = float(_config_weight(model, s))
        if s.throttle is not None and 0 <= s.throttle < 100:
            w *= s.throttle / 100.0
        if s.serving and not s.drained and w > 0:
            fair[s.name] = w
            (backups if _is_backup(model, s) else weights)[s.name] = w
    on_backup = False
    if not weights and backups:
        on_backup = True
        allbackups = model is not None and (
            model.has_flag("allbackups") or model.balance.algorithm in {"round_robin", "least_conn"}
        )
        weights = backups if allbackups else dict([next(iter(backups.items()))])
    shares = {s.name: 0.0 for s in sample.servers}
    shares.update(_normalise(weights))
    notes: list[str] = []
    if mode == HASH and model is not None and dialect is not None:
        predicted = _predicted(model, dialect, sample, weights)
        if predicted is not None:
            shares.update(predicted)
        else:
            notes.append("servers are down or drained: hash spread shown from weights")
    fair_shares = {s.name: 0.0 for s in sample.servers}
    fair_shares.update(_normalise(fair))
    return Expectation(mode, shares, fair_shares, on_backup, tuple(notes))


def _predicted(
    model: Pool, dialect: Dialect, sample: PoolSample, serving: dict[str, float]
) -> dict[str, float] | None:
    """The simulator's spread, when the live serving set is the one the config describes."""
    configured = {s.name for s in model.serving_servers()}
    if set(serving) != configured or {s.name for s in sample.servers} - {
        s.name for s in model.servers
    }:
        return None
    from lbguard.simulate.predict import predict

    return dict(predict(model, dialect).predicted)
