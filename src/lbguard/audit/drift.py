"""Semantic drift: what changed between the approved model and the deployed one.

The comparison runs on normalised model state, so a comment, a blank line or a
reordered section is never drift, while a weight typo always is. Each change is
ranked by what it alone does to traffic: the change is applied to the approved pool
and the pool is run through the same simulator as `lbguard diff`; the impact is the
share of the pool's requests that land on a different server (half the sum of the
absolute share changes).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lbguard.audit.findings import AuditFinding, Kind
from lbguard.audit.normalise import SERVER_FIELDS, to_pool, unpack_pool
from lbguard.findings import Severity
from lbguard.model import Config, Dialect, Pool

PoolState = dict[str, Any]
# Server settings compared one by one; `drain` follows from weight and is not repeated.
_SERVER_FIELDS = tuple(f for f in SERVER_FIELDS if f not in ("name", "drain"))
_FLAG_FIELDS = {"backup", "disabled"}
_BALANCE_LABELS = (
    ("algorithm", "algorithm"),
    ("key", "hash key"),
    ("hash_type", "hash type"),
    ("hash_function", "hash function"),
    ("avalanche", "hash avalanche"),
    ("hash_balance_factor", "hash-balance-factor"),
    ("args", "balance arguments"),
)
# Beyond this many distinct simulations in one pool, changes are ranked more cheaply.
MAX_SIMULATED_CHANGES = 200


@dataclass
class Change:
    """One semantic difference, and how to apply it to the approved pool state."""

    pool: str
    server: str | None
    what: str
    before: Any
    after: Any
    apply: Callable[[PoolState], None]
    impact: float = 0.0


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}".strip() for k, v in value.items()) or "none"
    return str(value)


# Each `apply` replaces what it changes instead of editing it in place, so a trial can
# start from a shallow copy of the approved pool: no deep copy per change.


def _set_server(name: str, field: str, value: Any) -> Callable[[PoolState], None]:
    def apply(state: PoolState) -> None:
        state["servers"] = [
            {**s, field: value} if s["name"] == name else s for s in state["servers"]
        ]

    return apply


def _remove_server(name: str) -> Callable[[PoolState], None]:
    def apply(state: PoolState) -> None:
        state["servers"] = [s for s in state["servers"] if s["name"] != name]

    return apply


def _add_server(server: Mapping[str, Any], index: int) -> Callable[[PoolState], None]:
    def apply(state: PoolState) -> None:
        servers = list(state["servers"])
        servers.insert(min(index, len(servers)), dict(server))
        state["servers"] = servers

    return apply


def _set_key(*pairs: tuple[str, Any]) -> Callable[[PoolState], None]:
    def apply(state: PoolState) -> None:
        for key, value in pairs:
            state[key] = copy.deepcopy(value)

    return apply


def _set_item(key: str, name: str, value: Any) -> Callable[[PoolState], None]:
    def apply(state: PoolState) -> None:
        items = {k: v for k, v in state[key].items() if k != name}
        if value is not None:
            items[name] = value
        state[key] = items

    return apply


def pool_changes(name: str, old: PoolState, new: PoolState) -> list[Change]:
    """Every semantic difference between two states of the same pool."""
    changes: list[Change] = []
    old_servers = {s["name"]: s for s in old["servers"]}
    new_servers = {s["name"]: s for s in new["servers"]}
    for s in old["servers"]:
        if s["name"] not in new_servers:
            changes.append(
                Change(
                    name, s["name"], "server removed", s["address"], None, _remove_server(s["name"])
                )
            )
    for index, s in enumerate(new["servers"]):
        before = old_servers.get(s["name"])
        if before is None:
            changes.append(
                Change(name, s["name"], "server added", None, s["address"], _add_server(s, index))
            )
            continue
        for field in _SERVER_FIELDS:
            if before.get(field) != s.get(field):
                what = "weight" if field == "weight" else field.replace("_", "-")
                apply = _set_server(s["name"], field, s.get(field))
                changes.append(
                    Change(name, s["name"], what, before.get(field), s.get(field), apply)
                )
    ob, nb = old["balance"], new["balance"]
    for key, label in _BALANCE_LABELS:
        if ob.get(key) != nb.get(key):
            apply = _set_key(("balance", nb), ("sim_directives", new.get("sim_directives", [])))
            changes.append(Change(name, None, label, ob.get(key), nb.get(key), apply))
            break  # one balance change carries the whole new balance setting
    for group, label in (("timeouts", "timeout"), ("flags", "option"), ("limits", "")):
        before_map, after_map = old.get(group, {}), new.get(group, {})
        for item in sorted({*before_map, *after_map}):
            if before_map.get(item) != after_map.get(item):
                what = f"{label} {item}".strip()
                apply = _set_item(group, item, after_map.get(item))
                changes.append(
                    Change(name, None, what, before_map.get(item), after_map.get(item), apply)
                )
    for key, label in (
        ("health", "health check"),
        ("persistence", "persistence"),
        ("mode", "mode"),
        ("workers", "worker processes"),
    ):
        if old.get(key) != new.get(key):
            apply = _set_key((key, new.get(key)))
            changes.append(Change(name, None, label, old.get(key), new.get(key), apply))
    return changes


def share_shift(before: Mapping[str, float], after: Mapping[str, float]) -> float:
    """Share of requests that land on a different server: half the total variation."""
    names = {*before, *after}
    return sum(abs(after.get(n, 0.0) - before.get(n, 0.0)) for n in names) / 2


def _shares(name: str, state: PoolState, dialect: Dialect) -> dict[str, float]:
    from lbguard.simulate.predict import predict

    pool = to_pool(name, state)
    if not pool.servers:
        return {}
    return predict(pool, dialect).predicted


def rank(
    changes: list[Change],
    name: str,
    old: PoolState,
    dialect: Dialect,
    after: Mapping[str, float],
) -> dict[str, float]:
    """Set each change's impact by simulating it alone on the approved pool.

    Changes the simulator cannot see (maxconn, timeouts...) leave the pool's shape
    unchanged and cost no simulation. Past MAX_SIMULATED_CHANGES distinct shapes in one
    pool, a server's change is ranked by how far its own share moved, and a pool
    setting by the whole pool's shift.
    """
    from lbguard.simulate.predict import predict, shape

    base_pool = to_pool(name, old)
    base = predict(base_pool, dialect).predicted if base_pool.servers else {}
    seen: dict[Any, dict[str, float]] = {shape(base_pool, dialect): base}
    for change in changes:
        trial = dict(old)
        change.apply(trial)
        pool = to_pool(name, trial)
        key = shape(pool, dialect)
        shares = seen.get(key)
        if shares is None and len(seen) <= MAX_SIMULATED_CHANGES:
            shares = seen[key] = predict(pool, dialect).predicted if pool.servers else {}
        if shares is not None:
            change.impact = share_shift(base, shares)
        elif change.server is not None:
            change.impact = abs(after.get(change.server, 0.0) - base.get(change.server, 0.0))
        else:
            change.impact = share_shift(base, after)
    return base


def _message(change: Change, kind: str) -> str:
    where = f"{kind} {change.pool}"
    if change.server:
        where += f", server {change.server}"
    if change.what == "server added":
        text = f"{where}: server added ({change.after})"
    elif change.what == "server removed":
        text = f"{where}: server removed (was {change.before})"
    elif change.what in _FLAG_FIELDS:
        # nginx calls a disabled upstream server `down`.
        flag = "down" if change.what == "disabled" and kind == "upstream" else change.what
        text = f"{where}: {flag} {_show(change.before)} -> {_show(change.after)}"
    elif change.what == "weight" and change.after == 0:
        text = f"{where}: weight {change.before} -> 0 (drained)"
    else:
        text = f"{where}: {change.what} {_show(change.before)} -> {_show(change.after)}"
    if change.impact > 0:
        text += f"; moves {change.impact:.1%} of the pool's traffic"
    return text


def config_drift(
    key: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    config: Config,
) -> list[AuditFinding]:
    """Drift findings for one config against its approved state, most traffic moved first."""
    if old is None:
        return [
            AuditFinding(
                Kind.DRIFT,
                Severity.WARNING,
                f"{key}: no approved baseline; run 'lbguard baseline approve {key}' once it "
                "is reviewed",
                key,
                path=key,
            )
        ]
    dialect = Dialect(new["dialect"])
    old_fields = old.get("server_fields")
    new_fields = new.get("server_fields")
    model_pools: dict[str, Pool] = {}
    for p in config.pools:
        model_pools.setdefault(p.name, p)
    out: list[AuditFinding] = []
    for name in old["pools"]:
        if name not in new["pools"]:
            state = old["pools"][name]
            out.append(
                AuditFinding(
                    Kind.DRIFT,
                    Severity.WARNING,
                    f"{state['kind']} {name}: removed (had {len(state['servers'])} servers); "
                    "its traffic goes elsewhere or fails",
                    f"{state['kind']} {name}",
                    pool=name,
                    path=key,
                    impact=1.0,
                    detail={"change": "pool removed"},
                )
            )
    for name, state in new["pools"].items():
        model_pool = model_pools.get(name)
        path = model_pool.location.path if model_pool else key
        line = model_pool.location.line if model_pool else None
        before = old["pools"].get(name)
        if before is not None and old_fields == new_fields and _same(before, state):
            continue  # compared as rows, without building an object per server
        if before is not None and old_fields is not None:
            before = unpack_pool(before, old_fields)
        if new_fields is not None:
            state = unpack_pool(state, new_fields)
        if before is None:
            out.append(
                AuditFinding(
                    Kind.DRIFT,
                    Severity.WARNING,
                    f"{state['kind']} {name}: added with {len(state['servers'])} servers",
                    f"{state['kind']} {name}",
                    pool=name,
                    path=path,
                    line=line,
                    impact=1.0,
                    detail={"change": "pool added"},
                )
            )
            continue
        changes = pool_changes(name, before, state)
        if not changes:
            continue
        after = _shares(name, state, dialect)
        base = rank(changes, name, before, dialect, after)
        pool_detail = {
            "pool_shift": round(share_shift(base, after), 6),
            "shares_before": {k: round(v, 6) for k, v in base.items()},
            "shares_after": {k: round(v, 6) for k, v in after.items()},
        }
        remapped = _keys_remapped(name, before, state, dialect)
        if remapped is not None:
            pool_detail["keys_remapped"] = round(remapped, 6)
        servers = {s.name: s for s in model_pool.servers} if model_pool else {}
        for change in changes:
            server = servers.get(change.server or "")
            out.append(
                AuditFinding(
                    Kind.DRIFT,
                    Severity.WARNING,
                    _message(change, state["kind"]),
                    f"{state['kind']} {name}"
                    + (f", server {change.server}" if change.server else ""),
                    pool=name,
                    server=change.server,
                    path=server.location.path if server else path,
                    line=server.location.line if server else line,
                    impact=change.impact,
                    detail={
                        "change": change.what,
                        "before": change.before,
                        "after": change.after,
                        **pool_detail,
                    },
                )
            )
    out.sort(key=lambda f: (-f.impact, f.pool or "", f.server or "", f.message))
    return out


def _same(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Equal pool states; predicted shares follow from the rest and are not compared
    (a better simulator is not drift)."""
    keys = before.keys() | after.keys()
    return all(before.get(k) == after.get(k) for k in keys if k != "predicted")


def _keys_remapped(name: str, old: PoolState, new: PoolState, dialect: Dialect) -> float | None:
    """For hashing pools, the share of distinct keys that move server (as `lbguard diff`)."""
    before, after = to_pool(name, old), to_pool(name, new)
    if not (before.balance.is_hash or after.balance.is_hash):
        return None
    if not before.servers or not after.servers:
        return None
    from lbguard.simulate.cli import keys_remapped
    from lbguard.simulate.traffic import TrafficModel

    return keys_remapped(before, after, dialect, _trace(TrafficModel()))


def _trace(model: Any) -> Any:
    from lbguard.simulate.predict import _trace as cached_trace

    return cached_trace(model)
