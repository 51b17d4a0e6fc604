"""The store's tables, in one MetaData so Alembic migrations and queries agree.

Timestamps are ISO-8601 UTC text with microseconds (`2026-11-30T06:40:00.123456Z`):
they sort as text, round-trip exactly into the hash chain, and read the same in
SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

trail = Table(
    "trail",
    metadata,
    # seq is assigned by the writer, not by the database, so a deleted record leaves a gap
    # that verification can see.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", Text, nullable=True),
    Column("body", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_trail_at", "at"),
    Index("ix_trail_kind_at", "kind", "at"),
)

# One row: the newest record's seq and hash. Written in the same transaction as the
# record, so cutting records off the end of the trail is seen too.
trail_head = Table(
    "trail_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("receiver", String(200), nullable=False),
    Column("key", String(400), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(32), nullable=False),
    Column("delivered_at", String(32), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("receiver", "key", name="uq_outbox_receiver_key"),
    Index("ix_outbox_due", "receiver", "delivered_at", "next_attempt_at"),
)
