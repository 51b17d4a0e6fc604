"""Delivering alerts through the store's durable outbox: none lost, none sent twice.

Every alert transition is queued for every receiver before anything is sent, keyed by
(fingerprint, state, starts_at), so a restart cannot queue it twice. Delivery retries
with exponential backoff while a receiver is down, in order per receiver (a resolve
never overtakes its firing), and marks an item delivered only after the receiver
accepted it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lbguard.watch.alerts import Alert
from lbguard.watch.receivers import DeliveryError, Receiver

if TYPE_CHECKING:
    from lbguard.store import Store


def backoff(attempts: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Seconds before the next try after `attempts` failures: base·2^attempts, capped."""
    return float(min(cap, base * 2.0 ** min(attempts, 30)))


def _now() -> datetime:
    return datetime.now(UTC)


class Delivery:
    """The outbox side of the daemon: `enqueue` alerts, `deliver_due` in a loop."""

    def __init__(
        self,
        store: Store,
        receivers: Sequence[Receiver],
        *,
        base: float = 1.0,
        cap: float = 300.0,
        clock: Callable[[], datetime] = _now,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.receivers = list(receivers)
        self.base = base
        self.cap = cap
        self.clock = clock
        self.report = report or (lambda line: None)
        self.wakeup = asyncio.Event()

    def enqueue(self, alert: Alert) -> int:
        """Queue `alert` for every receiver; how many queued it for the first time."""
        queued = 0
        for receiver in self.receivers:
            if self.store.outbox.enqueue(receiver.name, alert.key, alert.as_dict()):
                queued += 1
        self.wakeup.set()
        return queued

    async def deliver_due(self) -> int:
        """Send what is due to every receiver; how many were delivered."""
        sent = 0
        for receiver in self.receivers:
            now = self.clock()
            for item in self.store.outbox.due(receiver.name, now):
                try:
                    await receiver.send(item.payload)
                except DeliveryError as exc:
                    delay = backoff(item.attempts, self.base, self.cap)
                    self.store.outbox.failed(item.id, str(exc), now + timedelta(seconds=delay))
                    self.report(
                        f"cannot deliver to {receiver.name} ({exc}); retrying in {delay:.0f} s"
                    )
                    break  # keep this receiver's order: the rest waits for this one
                self.store.outbox.delivered(item.id)
                sent += 1
        return sent

    async def run(self, stop: asyncio.Event, tick: float = 0.5) -> None:
        """Deliver until `stop` is set, waking early when something is queued."""
        while not stop.is_set():
            self.wakeup.clear()
            try:
                await self.deliver_due()
            except Exception as exc:  # the store or a receiver failed oddly: keep going
                self.report(f"delivery round failed: {type(exc).__name__}: {exc}")
            self.wakeup.clear()
            waiters = [
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self.wakeup.wait()),
            ]
            _, pending = await asyncio.wait(waiters, timeout=tick, return_when="FIRST_COMPLETED")
            for task in pending:
                task.cancel()
