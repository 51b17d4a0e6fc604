"""Approved baselines: versioned rows of normalised state, each anchored in the trail.

The state itself is too big for the trail (a 5,000-backend config is megabytes), so
it lives in its own table, and the "baseline" trail record carries its SHA-256. The
row and the record are written in one transaction, and reading a baseline checks the
row against its record, so editing a baseline behind lbguard's back is caught the
same way as editing the trail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select, update

from lbguard.errors import LbguardError
from lbguard.store import Store, StoreError
from lbguard.store.canonical import canonical_json, format_time, parse_time, utcnow
from lbguard.store.schema import trail
from lbguard.store.trail import append_record

metadata = MetaData()

# Created by migration 0002_baselines; this is the query-side definition.
baselines = Table(
    "baselines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("configs", Text, nullable=False),  # JSON list of config keys
    Column("note", Text, nullable=True),
    Column("state", Text, nullable=False),  # canonical JSON of the normalised state
    Column("state_sha256", String(64), nullable=False),
    Column("trail_seq", Integer, nullable=False),
)


@dataclass(frozen=True)
class BaselineInfo:
    id: int
    at: datetime
    configs: list[str]
    note: str | None
    state_sha256: str
    trail_seq: int


@dataclass(frozen=True)
class Baseline:
    info: BaselineInfo
    # Servers are rows of `server_fields`; `normalise.unpack` gives one object each.
    state: dict[str, Any]


def hash_list(items: Iterable[tuple[str, str]], name: str = "path") -> list[dict[str, str]]:
    """Hashes keyed by path as a list, not a mapping: the trail masks values whose key
    looks secret, and a path such as `/etc/haproxy/secrets.cfg` must not hide its hash."""
    return [{name: path, "sha256": digest} for path, digest in items]


def summary(state: Mapping[str, Any]) -> dict[str, Any]:
    """What the trail record says about a baseline: counts and file hashes, not the state."""
    configs = state.get("configs", {})
    return {
        "pools": sum(len(c["pools"]) for c in configs.values()),
        "servers": sum(len(p["servers"]) for c in configs.values() for p in c["pools"].values()),
        "findings": sum(len(c["findings"]) for c in configs.values()),
        "files": hash_list(f for c in configs.values() for f in c["files"].items()),
        "critical": hash_list(state.get("critical", {}).items()),
    }


def approve(store: Store, state: Mapping[str, Any], note: str | None) -> BaselineInfo:
    """Store `state` as the newest approved baseline, with its trail record, atomically."""
    text = canonical_json(state)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    keys = sorted(state.get("configs", {}))
    at = utcnow()
    with store.writing() as conn:
        row = conn.execute(
            insert(baselines).values(
                at=format_time(at),
                configs=json.dumps(keys),
                note=note,
                state=text,
                state_sha256=digest,
                trail_seq=0,
            )
        )
        pk = row.inserted_primary_key
        assert pk is not None
        baseline_id = int(pk[0])
        body = {
            "id": baseline_id,
            "configs": keys,
            "note": note,
            "state_sha256": digest,
            **summary(state),
        }
        record = append_record(conn, "baseline", body, " ".join(keys), at)
        conn.execute(
            update(baselines).where(baselines.c.id == baseline_id).values(trail_seq=record.seq)
        )
    return BaselineInfo(baseline_id, record.at, keys, note, digest, record.seq)


def _info(row: Any) -> BaselineInfo:
    return BaselineInfo(
        int(row.id),
        parse_time(row.at),
        list(json.loads(row.configs)),
        row.note,
        row.state_sha256,
        int(row.trail_seq),
    )


_INFO_COLUMNS = (
    baselines.c.id,
    baselines.c.at,
    baselines.c.configs,
    baselines.c.note,
    baselines.c.state_sha256,
    baselines.c.trail_seq,
)


def list_baselines(store: Store) -> list[BaselineInfo]:
    with store.reading() as conn:
        rows = conn.execute(select(*_INFO_COLUMNS).order_by(baselines.c.id)).all()
    return [_info(r) for r in rows]


def load(store: Store, baseline_id: int) -> Baseline:
    """One baseline, checked against its trail record; an edited row is a StoreError."""
    with store.reading() as conn:
        row = conn.execute(select(baselines).where(baselines.c.id == baseline_id)).first()
        if row is None:
            raise LbguardError(f"no baseline {baseline_id}; 'lbguard baseline list' shows them")
        record = conn.execute(
            select(trail.c.kind, trail.c.body).where(trail.c.seq == row.trail_seq)
        ).first()
    digest = hashlib.sha256(row.state.encode("utf-8")).hexdigest()
    anchored = None
    if record is not None and record.kind == "baseline":
        anchored = json.loads(record.body).get("state_sha256")
    if digest != row.state_sha256 or anchored != digest:
        raise StoreError(
            f"baseline {baseline_id} does not match its trail record {row.trail_seq}: "
            "the baselines table was edited; run 'lbguard trail verify' and approve again"
        )
    return Baseline(_info(row), json.loads(row.state))


def latest_for(store: Store, key: str) -> Baseline | None:
    """The newest baseline that approved config `key`."""
    with store.reading() as conn:
        rows = conn.execute(
            select(baselines.c.id, baselines.c.configs).order_by(baselines.c.id.desc())
        ).all()
    for row in rows:
        if key in json.loads(row.configs):
            return load(store, int(row.id))
    return None
