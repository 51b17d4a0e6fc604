"""`lbguard audit --every 1h`: audits on a schedule, stopping cleanly on SIGTERM.

A stop request never interrupts an audit half-way (its trail record is written in
one transaction either way); it ends the wait before the next one. One failed cycle
(an unreachable stats socket, a locked store) is reported and the schedule goes on:
a daemon that dies on the first hiccup audits nothing for the rest of the night.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType

from lbguard.errors import LbguardError


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_every(
    interval: timedelta,
    cycle: Callable[[], object],
    report_error: Callable[[str], None],
    stop: threading.Event | None = None,
    max_cycles: int | None = None,
) -> int:
    """Run `cycle` now and then every `interval` until stopped; returns the cycles run."""
    stop = stop or threading.Event()
    done = 0
    with stop_on_signals(stop):
        while not stop.is_set():
            started = time.monotonic()
            try:
                cycle()
            except LbguardError as exc:
                report_error(exc.message)
            done += 1
            if max_cycles is not None and done >= max_cycles:
                break
            stop.wait(max(0.0, interval.total_seconds() - (time.monotonic() - started)))
    return done
