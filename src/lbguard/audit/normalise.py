"""The approved state of a balancer config, as plain JSON-able data read from the model.

A baseline must compare equal across edits that do not change behaviour (comments,
whitespace, reordering sections), so it holds what the model says, never the text:
pools, servers, weights, flags, algorithm and hash key, timeouts, checks, maxconn,
the check findings and the predicted shares. File contents appear only as SHA-256
hashes, taken after secrets are masked, so neither the trail nor the baseline table
ever holds a password, and the same file always hashes the same way.

The pool state keeps exactly what the simulator reads (server ids, hash-type and
balance arguments), so `to_pool` can rebuild a model pool from a stored baseline and
drift can measure what each change does to traffic.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lbguard import redact
from lbguard.errors import ConfigReadError
from lbguard.findings import Finding
from lbguard.model import (
    Balance,
    Config,
    Dialect,
    Directive,
    HealthCheck,
    Location,
    Pool,
    Server,
    Setting,
)
from lbguard.store.canonical import canonical_json
from lbguard.util import is_digits

# Directives the simulator reads from `Pool.directives`; kept so `to_pool` is faithful.
_SIM_DIRECTIVES = frozenset({"hash-type", "balance"})
# Pool-level connection limits, by dialect keyword.
_POOL_LIMITS = frozenset({"fullconn", "maxconn", "keepalive"})
_NOWHERE = Location("<baseline>", 1)


def state_hash(state: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(state).encode("utf-8")).hexdigest()


def server_row(server: Server) -> list[Any]:
    """One server's traffic-relevant settings, in SERVER_FIELDS order; `drain` is weight 0
    (no new traffic)."""
    server_id = None
    for key, value in server.options:
        if key == "id":
            server_id = value if value is not None else ""
    return [
        server.name,
        server.endpoint,
        server.weight,
        server.backup,
        server.disabled,
        server.weight == 0 and not server.disabled,
        server.check or server.agent_check,
        server.maxconn,
        server.maxqueue,
        server.slowstart,
        server.max_fails,
        server_id,
    ]


def pool_state(pool: Pool, dialect: Dialect, shares: Mapping[str, float]) -> dict[str, Any]:
    b = pool.balance
    limits = {
        d.name: " ".join(d.args)
        for d in pool.directives
        if d.name in _POOL_LIMITS and d.inherited_from is None
    }
    return {
        "kind": pool.kind,
        "mode": pool.mode,
        "balance": {
            "algorithm": b.algorithm,
            "args": list(b.args),
            "key": b.key,
            "hash_type": b.hash_type,
            "hash_function": b.hash_function,
            "avalanche": b.avalanche,
            "hash_balance_factor": b.hash_balance_factor,
        },
        "sim_directives": [[d.name, *d.args] for d in pool.directives if d.name in _SIM_DIRECTIVES],
        "health": {"kind": pool.health.kind, "path": pool.health.path},
        "timeouts": {name: s.value for name, s in sorted(pool.timeouts.items())},
        "flags": {name: s.value for name, s in sorted(pool.flags.items())},
        "limits": limits,
        "persistence": sorted(p.kind for p in pool.persistence),
        "workers": pool.workers,
        "servers": [server_row(s) for s in pool.servers],
        "predicted": {name: round(v, 6) for name, v in shares.items()},
        "dialect": dialect.value,
    }


# States list each server as a row in this order: a 100k-server state is half the size,
# parses twice as fast, and compares pool by pool without building an object per server.
SERVER_FIELDS = (
    "name",
    "address",
    "weight",
    "backup",
    "disabled",
    "drain",
    "check",
    "maxconn",
    "maxqueue",
    "slowstart",
    "max_fails",
    "id",
)


def unpack_pool(pool: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """A pool state with one object per server, as drift and `to_pool` read it."""
    return {**pool, "servers": [dict(zip(fields, row, strict=True)) for row in pool["servers"]]}


def unpack(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The state with one object per server, for people and JSON output."""
    configs = {}
    for key, cfg in stored.get("configs", {}).items():
        fields = cfg.get("server_fields")
        if fields is None:
            configs[key] = dict(cfg)
            continue
        pools = {name: unpack_pool(pool, fields) for name, pool in cfg["pools"].items()}
        configs[key] = {k: v for k, v in cfg.items() if k != "server_fields"} | {"pools": pools}
    return {**stored, "configs": configs}


def to_pool(name: str, state: Mapping[str, Any]) -> Pool:
    """A model pool rebuilt from an unpacked `pool_state`, faithful for everything the
    simulator reads."""
    b = state["balance"]
    servers = []
    for s in state["servers"]:
        host, port = _split_endpoint(s["address"])
        options: tuple[tuple[str, str | None], ...] = (("id", s["id"]),) if s.get("id") else ()
        servers.append(
            Server(
                name=s["name"],
                address=host,
                port=port,
                location=_NOWHERE,
                weight=s["weight"],
                backup=s["backup"],
                disabled=s["disabled"],
                check=s["check"],
                maxconn=s["maxconn"],
                maxqueue=s["maxqueue"],
                slowstart=s["slowstart"],
                options=options,
                max_fails=s.get("max_fails"),
            )
        )
    directives = tuple(
        Directive(d[0], tuple(d[1:]), _NOWHERE) for d in state.get("sim_directives", [])
    )
    flags = {k: Setting(v, _NOWHERE) for k, v in state.get("flags", {}).items()}
    return Pool(
        name=name,
        kind=state["kind"],
        location=_NOWHERE,
        balance=Balance(
            algorithm=b["algorithm"],
            args=tuple(b["args"]),
            key=b["key"],
            hash_type=b["hash_type"],
            hash_function=b["hash_function"],
            avalanche=b["avalanche"],
            hash_balance_factor=b["hash_balance_factor"],
        ),
        servers=tuple(servers),
        mode=state["mode"],
        health=HealthCheck(state["health"]["kind"], None, state["health"]["path"]),
        flags=MappingProxyType(flags),
        directives=directives,
        workers=state["workers"],
    )


def _split_endpoint(endpoint: str) -> tuple[str | None, int | None]:
    if endpoint.startswith("["):
        host, _, rest = endpoint[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if is_digits(port) else None
    host, sep, port = endpoint.rpartition(":")
    if sep and is_digits(port) and ":" not in host:
        return host or None, int(port)
    return endpoint or None, None


def finding_state(f: Finding, real: dict[str, str] | None = None) -> dict[str, Any]:
    """A check finding (the JSON contract's shape) with a line-independent fingerprint,
    so moving code around is not a 'new' finding."""
    from lbguard.output.json_format import finding_dict

    # The real path, as the config's key is: approving `/etc/haproxy/haproxy.cfg` and
    # auditing `haproxy.cfg` from /etc/haproxy must not make every finding 'new'.
    # `real` memoises realpath over one config's findings (a daemon must not keep it:
    # a deploy may repoint a symlink).
    path = f.location.path
    if real is None:
        real = {}
    if path not in real:
        real[path] = os.path.realpath(path)
    ident = canonical_json([f.code, real[path], list(f.context), f.message])
    return {"fingerprint": hashlib.sha256(ident.encode()).hexdigest()[:16], **finding_dict(f)}


def file_hashes(config: Config) -> dict[str, str]:
    """SHA-256 of every file the config read (includes too), with secrets masked first."""
    secrets = redact.secret_words(config)
    out: dict[str, str] = {}
    for f in config.files:
        try:
            data = _read_bytes(f.path)
        except ConfigReadError:
            out[os.path.realpath(f.path)] = "unreadable"
            continue
        if secrets:
            text = data.decode("utf-8", "replace")
            data = "\n".join(redact.redact_lines(text.split("\n"), secrets)).encode("utf-8")
        out[os.path.realpath(f.path)] = hashlib.sha256(data).hexdigest()
    return out


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigReadError(f"{path}: cannot read ({exc.strerror})") from None


@dataclass
class ConfigState:
    """One config's normalised state plus the model it came from (not stored)."""

    key: str
    state: dict[str, Any]
    config: Config


def config_state(
    key: str,
    paths: Sequence[str],
    config: Config,
    findings: Iterable[Finding],
    *,
    shares: bool = True,
) -> ConfigState:
    """The normalised, secret-free state of one parsed config.

    `shares=False` leaves out the predicted shares: they follow from the rest of the
    pool state, so an audit compares without them and simulates only changed pools.
    """
    from lbguard.simulate.predict import predict

    pools: dict[str, Any] = {}
    for pool in config.pools:
        if pool.name in pools:
            continue  # a redefinition is a check finding; the first one is what runs
        predicted = predict(pool, config.dialect).predicted if shares and pool.servers else {}
        pools[pool.name] = pool_state(pool, config.dialect, predicted)
    real: dict[str, str] = {}
    state = {
        "server_fields": list(SERVER_FIELDS),
        "dialect": config.dialect.value,
        "paths": [os.path.realpath(p) for p in paths],
        "files": file_hashes(config),
        "pools": pools,
        "findings": sorted(
            (finding_state(f, real) for f in findings),
            key=lambda d: (d["path"], d["line"], d["code"]),
        ),
    }
    return ConfigState(key, state, config)
