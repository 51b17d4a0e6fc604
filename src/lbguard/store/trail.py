"""The append-only, hash-chained trail: every record commits to the one before it.

Each record's hash covers its own fields and the previous record's hash, so editing a
record breaks its own hash, deleting or reordering one breaks the next record's link,
and cutting records off the end disagrees with the head row written alongside each
append. Nothing here can stop someone with write access from rewriting the whole
chain; `trail verify` prints the head hash so it can be anchored outside the store
(a CI log, a ticket) where that matters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lbguard.store.canonical import canonical_json, format_time, parse_time, redact
from lbguard.store.schema import trail, trail_head

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class TrailRecord:
    seq: int
    at: datetime
    kind: str
    subject: str | None
    body: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class TrailVerdict:
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str
    head_hash: str


def record_hash(
    seq: int, at: str, kind: str, subject: str | None, prev_hash: str, body: str
) -> str:
    material = canonical_json([seq, at, kind, subject, prev_hash, body])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append_record(
    conn: Connection,
    kind: str,
    body: Mapping[str, Any],
    subject: str | None,
    at: datetime,
) -> TrailRecord:
    """Append inside the caller's write transaction (which must hold the writer lock)."""
    if not kind or len(kind) > 32:
        raise ValueError(f"trail kind must be 1-32 characters: {kind!r}")
    body_text = canonical_json(redact(dict(body)))
    at_text = format_time(at)
    last = conn.execute(
        select(trail.c.seq, trail.c.hash).order_by(trail.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    digest = record_hash(seq, at_text, kind, subject, prev, body_text)
    conn.execute(
        insert(trail).values(
            seq=seq,
            at=at_text,
            kind=kind,
            subject=subject,
            body=body_text,
            prev_hash=prev,
            hash=digest,
        )
    )
    if last is None:
        conn.execute(insert(trail_head).values(id=1, seq=seq, hash=digest))
    else:
        changed = conn.execute(
            update(trail_head).where(trail_head.c.id == 1).values(seq=seq, hash=digest)
        ).rowcount
        if changed != 1:
            conn.execute(insert(trail_head).values(id=1, seq=seq, hash=digest))
    return TrailRecord(seq, parse_time(at_text), kind, subject, json.loads(body_text), prev, digest)


def select_records(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    kinds: Iterable[str] | None = None,
    subject: str | None = None,
) -> Iterator[TrailRecord]:
    query = select(trail).order_by(trail.c.seq)
    if since is not None:
        query = query.where(trail.c.at >= format_time(since))
    if until is not None:
        query = query.where(trail.c.at <= format_time(until))
    if kinds is not None:
        query = query.where(trail.c.kind.in_(list(kinds)))
    if subject is not None:
        query = query.where(trail.c.subject == subject)
    with closing(conn.execution_options(yield_per=5000).execute(query)) as rows:
        for row in rows:
            yield TrailRecord(
                row.seq,
                parse_time(row.at),
                row.kind,
                row.subject,
                json.loads(row.body),
                row.prev_hash,
                row.hash,
            )


def verify_chain(conn: Connection) -> TrailVerdict:
    """Walk the whole trail once; name the first record that is not what was written."""
    query = select(
        trail.c.seq,
        trail.c.at,
        trail.c.kind,
        trail.c.subject,
        trail.c.body,
        trail.c.prev_hash,
        trail.c.hash,
    ).order_by(trail.c.seq)
    with closing(conn.execution_options(yield_per=20000).execute(query)) as rows:
        walked = _walk(rows)
    if isinstance(walked, TrailVerdict):
        return walked
    checked, prev = walked
    head = conn.execute(select(trail_head.c.seq, trail_head.c.hash)).first()
    if head is None:
        if checked:
            reason = "the trail head is missing: the store was edited"
            return TrailVerdict(False, checked, checked, reason, prev)
    elif head.seq != checked or head.hash != prev:
        if head.seq > checked:
            reason = f"records {checked + 1}-{head.seq} are missing: the trail was cut off its end"
            return TrailVerdict(False, checked, checked + 1, reason, prev)
        reason = f"the trail head names record {head.seq}, but the last record is {checked}"
        return TrailVerdict(False, checked, max(head.seq, 1), reason, prev)
    return TrailVerdict(True, checked, None, f"{checked} records, chain intact", prev)


def _walk(rows: Iterable[Any]) -> TrailVerdict | tuple[int, str]:
    prev = GENESIS
    checked = 0
    sha256 = hashlib.sha256
    for seq, at, kind, subject, body, prev_hash, digest in rows:
        expected = checked + 1
        if seq != expected:
            if seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
                reason = f"record {gap} is missing: deleted"
            else:
                reason = f"record {seq} is out of order"
            return TrailVerdict(False, checked, expected, reason, prev)
        if prev_hash != prev:
            reason = (
                f"record {seq} does not follow record {seq - 1}: "
                "a record was edited, deleted or reordered"
            )
            return TrailVerdict(False, checked, seq, reason, prev)
        material = canonical_json([seq, at, kind, subject, prev_hash, body])
        if sha256(material.encode("utf-8")).hexdigest() != digest:
            reason = f"record {seq} was edited: its content no longer matches its hash"
            return TrailVerdict(False, checked, seq, reason, prev)
        prev = digest
        checked += 1
    return checked, prev
