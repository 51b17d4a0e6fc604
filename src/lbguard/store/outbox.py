"""Durable alert delivery: queued before it is sent, marked only once it was received.

The unique (receiver, key) pair makes enqueueing idempotent, so a daemon that restarts
and re-derives its alerts cannot queue one twice, and a receiver that was down gets
each alert exactly once when it comes back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lbguard.store.canonical import canonical_json, format_time, redact, utcnow
from lbguard.store.schema import outbox


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    receiver: str
    key: str
    payload: dict[str, Any]
    attempts: int


class Outbox:
    def __init__(
        self,
        write: Callable[[], AbstractContextManager[Connection]],
        read: Callable[[], AbstractContextManager[Connection]],
    ) -> None:
        self._write = write
        self._read = read

    def enqueue(self, receiver: str, key: str, payload: Mapping[str, Any]) -> bool:
        """Queue once; False when this (receiver, key) was queued before."""
        now = format_time(utcnow())
        try:
            with self._write() as conn:
                conn.execute(
                    insert(outbox).values(
                        receiver=receiver,
                        key=key,
                        payload=canonical_json(redact(dict(payload))),
                        created_at=now,
                        attempts=0,
                        next_attempt_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def due(self, receiver: str, now: datetime, limit: int = 100) -> list[OutboxItem]:
        with self._read() as conn:
            rows = conn.execute(
                select(
                    outbox.c.id,
                    outbox.c.receiver,
                    outbox.c.key,
                    outbox.c.payload,
                    outbox.c.attempts,
                )
                .where(
                    outbox.c.receiver == receiver,
                    outbox.c.delivered_at.is_(None),
                    outbox.c.next_attempt_at <= format_time(now),
                )
                .order_by(outbox.c.id)
                .limit(limit)
            ).all()
        return [
            OutboxItem(r.id, r.receiver, r.key, json.loads(r.payload), r.attempts) for r in rows
        ]

    def delivered(self, item_id: int, at: datetime | None = None) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item_id)
                .values(delivered_at=format_time(at or utcnow()), attempts=outbox.c.attempts + 1)
            )

    def failed(self, item_id: int, error: str, retry_at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == item_id)
                .values(
                    attempts=outbox.c.attempts + 1,
                    last_error=error[:2000],
                    next_attempt_at=format_time(retry_at),
                )
            )

    def pending_count(self, receiver: str | None = None) -> int:
        query = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
        if receiver is not None:
            query = query.where(outbox.c.receiver == receiver)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())
