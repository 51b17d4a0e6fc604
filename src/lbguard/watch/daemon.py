"""The long-running watcher: poll every source, evaluate, publish transitions, deliver.

Publishing an alert transition means, in this order: one line to the log, one record
of kind "alert" in the store's trail, one outbox entry per receiver, then the
`on_alert` hooks (remediation plugs in there). Publishing is safe from any thread:
remediation publishes its panic alert from its own worker. A hook with a `close()`
is closed on shutdown, before the last deliveries. A hook or receiver that fails is
reported and never stops the loop; a source that fails becomes the blind alert. The
daemon loads its settings once, handles SIGTERM and SIGINT by finishing the current
cycle, and gives pending deliveries a bounded grace period before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lbguard.watch.alerts import FIRING, RESOLVED, Alert, from_dict
from lbguard.watch.collectors import Collector, CollectorError
from lbguard.watch.engine import Engine
from lbguard.watch.outbox import Delivery
from lbguard.watch.receivers import DeliveryError, Receiver, one_line

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from lbguard.store import Store
    from lbguard.watch.metrics import WatchMetrics


@dataclass
class Watch:
    """One balancer: where its statistics come from and the engine that judges them."""

    collector: Collector
    engine: Engine


def _stderr(line: str) -> None:
    sys.stderr.write(f"lbguard watch: {line}\n")
    sys.stderr.flush()


@dataclass
class Daemon:
    watches: list[Watch]
    interval: float = 5.0
    store: Store | None = None
    receivers: Sequence[Receiver] = ()
    registry: CollectorRegistry | None = None
    log: Callable[[str], None] = _stderr
    # Called with every transition (firing, then resolved); `watch --remediate` and
    # other features plug in here. A hook that raises is reported and skipped.
    on_alert: list[Callable[[Alert], None]] = field(default_factory=list)
    grace: float = 5.0
    # Alertmanager forgets an alert that is not repeated: firing alerts are re-sent
    # this often to receivers that ask for it (best effort; the first send is durable).
    refresh_every: float = 60.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cycles: int = 0
    metrics: WatchMetrics | None = None
    delivery: Delivery | None = None
    _unsaved: list[Alert] = field(default_factory=list)
    # publish() is called by the loop and by hooks' own threads (remediation's panic).
    _publishing: threading.RLock = field(default_factory=threading.RLock)
    _refreshed: float = 0.0

    def __post_init__(self) -> None:
        if self.registry is not None:
            from lbguard.watch.metrics import WatchMetrics

            self.metrics = WatchMetrics(self.registry, lambda: [w.engine for w in self.watches])
        if self.store is not None and self.receivers:
            self.delivery = Delivery(self.store, self.receivers, report=self.log)
        if self.store is not None:
            self._restore()

    def _restore(self) -> None:
        """Seed the alert books with what was firing when the last run stopped."""
        assert self.store is not None
        since = datetime.now(UTC) - timedelta(days=30)
        latest: dict[str, Alert] = {}
        for record in self.store.records(since=since, kinds=["alert"]):
            with contextlib.suppress(KeyError, ValueError, TypeError):
                alert = from_dict(record.body)
                latest[alert.fingerprint] = alert
        firing = [a for a in latest.values() if a.state == FIRING]
        for w in self.watches:
            w.engine.book.restore(firing)
        if self.delivery is not None:
            # A crash between recording a transition and queueing it must not lose it:
            # queue the latest transition of each recent alert again (a no-op when it
            # was queued, thanks to the outbox key).
            recent = datetime.now(UTC) - timedelta(days=1)
            for alert in latest.values():
                if (alert.ends_at or alert.starts_at) >= recent:
                    self.delivery.enqueue(alert)

    def publish(self, alert: Alert) -> None:
        """Log, record, queue and hand `alert` to the hooks; never raises."""
        with self._publishing:
            self.log(one_line(alert.as_dict()))
            if self.metrics is not None:
                self.metrics.transitions.labels(alert.balancer, alert.kind, alert.state).inc()
            self._unsaved.append(alert)
            self._save()
            for hook in self.on_alert:
                try:
                    hook(alert)
                except Exception as exc:
                    self.log(f"on_alert hook {getattr(hook, '__name__', hook)!r} failed: {exc}")

    def _save(self) -> None:
        """Record and queue every transition not yet stored; a store outage only delays it."""
        if self.store is None:
            self._unsaved.clear()
            return
        from lbguard.store import StoreError

        while self._unsaved:
            alert = self._unsaved[0]
            try:
                self.store.append("alert", alert.as_dict(), subject=alert.fingerprint)
                if self.delivery is not None:
                    self.delivery.enqueue(alert)
            except StoreError as exc:
                self.log(f"cannot record the alert yet ({exc.message}); will retry")
                return
            self._unsaved.pop(0)

    async def poll(self, watch: Watch) -> list[Alert]:
        started = time.perf_counter()
        now = datetime.now(UTC)
        engine = watch.engine
        try:
            snapshot = await watch.collector.collect()
        except Exception as exc:  # whatever went wrong, the answer is the blind alert
            reason = str(exc) if isinstance(exc, CollectorError) else f"{type(exc).__name__}: {exc}"
            if engine.failures == 0:
                self.log(f"cannot read {watch.collector.source}: {reason}")
            result = "failed"
            transitions = engine.failed(reason, now)
        else:
            if engine.failures:
                self.log(f"{watch.collector.source} answers again")
            result = "ok"
            transitions = engine.observe(snapshot, now)
        if self.metrics is not None:
            self.metrics.polls.labels(engine.balancer, result).inc()
            self.metrics.poll_seconds.labels(engine.balancer).observe(time.perf_counter() - started)
        return transitions

    async def cycle(self) -> list[Alert]:
        """One poll of every source; the transitions are published before returning."""
        self._save()
        results = await asyncio.gather(*(self.poll(w) for w in self.watches))
        transitions = [a for batch in results for a in batch]
        for alert in transitions:
            self.publish(alert)
        self.cycles += 1
        await self.refresh()
        return transitions

    async def refresh(self) -> None:
        """Re-send firing alerts to receivers that forget them (Alertmanager)."""
        now = time.monotonic()
        if now - self._refreshed < self.refresh_every:
            return
        self._refreshed = now
        firing = [a for w in self.watches for a in w.engine.book.firing()]
        for receiver in self.receivers:
            if not getattr(receiver, "refresh", False):
                continue
            for alert in firing:
                try:
                    await receiver.send(alert.as_dict())
                except DeliveryError as exc:
                    self.log(f"cannot refresh {alert.kind} at {receiver.name}: {exc}")
                    break

    async def run(self) -> None:
        """Poll every `interval` seconds until `stop` is set (SIGTERM, SIGINT or a caller)."""
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop.set)
                installed.append(sig)
        deliver = (
            asyncio.create_task(self.delivery.run(self.stop)) if self.delivery is not None else None
        )
        try:
            while not self.stop.is_set():
                started = loop.time()
                try:
                    await self.cycle()
                except Exception as exc:  # a bug must not silence the watcher
                    self.log(f"cycle failed: {type(exc).__name__}: {exc}")
                delay = max(0.0, self.interval - (loop.time() - started))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self._shutdown(deliver)

    async def _shutdown(self, deliver: asyncio.Task[None] | None) -> None:
        self.stop.set()
        # Hooks finish what they were handed first: what they publish meanwhile (a
        # remediation panic) is then among the last deliveries below.
        for hook in self.on_alert:
            close = getattr(hook, "close", None)
            if callable(close):
                try:
                    await asyncio.to_thread(close)
                except Exception as exc:
                    self.log(f"on_alert hook {getattr(hook, '__name__', hook)!r} failed: {exc}")
        if deliver is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(deliver, self.grace)
        if self.delivery is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.delivery.deliver_due(), self.grace)
        for w in self.watches:
            with contextlib.suppress(Exception):
                await w.collector.close()
        for r in self.receivers:
            with contextlib.suppress(Exception):
                await r.close()

    async def __aenter__(self) -> Daemon:
        self._task = asyncio.create_task(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await self._task


__all__ = ["FIRING", "RESOLVED", "Daemon", "Watch"]
