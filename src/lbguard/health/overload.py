"""The overload score: many signals, one number, one weight, without flapping.

Each signal is turned into a *pressure* between 0 and 1 by a `Threshold`: 0 at or
below `start`, 1 at or above `full`, linear in between. The score is the highest
pressure, because one saturated resource (a full accept queue, say) is enough to
make a server slow whatever the others say. The weight the agent reports is a
monotonic function of the score (`weight_for`), never below a floor unless the
server is truly failing, so that a whole pool under load keeps serving instead of
reporting drain all at once.

Hysteresis comes in three places, so that the reply does not flap:

- *fast attack, slow release*: a signal's pressure rises at once but falls by at
  most `release_per_second` per second;
- *deadband*: the reported weight moves only when the target differs from the last
  report by `step_pct` points or more, or reaches 100% or the floor;
- *two thresholds for "overloaded"*: entered at a score of `enter_overloaded`, left
  only below `leave_overloaded`.

The request-side hooks (`request_started`, `request_finished`) are the hot path of
the middlewares: a lock, a few additions and a deque append.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from lbguard.health import signals as host


@dataclass(frozen=True, slots=True)
class Threshold:
    """Where a signal starts to count (`start`) and where it means overloaded (`full`)."""

    start: float
    full: float

    def pressure(self, value: float) -> float:
        if value <= self.start:
            return 0.0
        if value >= self.full or self.full <= self.start:
            return 1.0
        return (value - self.start) / (self.full - self.start)


@dataclass(frozen=True)
class Thresholds:
    """Every documented threshold of docs/health.md, with its default."""

    # Time-averaged requests in flight over the configured capacity.
    inflight: Threshold = Threshold(0.85, 0.95)
    # Latency over the server's own learned baseline (a ratio).
    latency_p50: Threshold = Threshold(1.5, 3.0)
    latency_p99: Threshold = Threshold(2.0, 5.0)
    # Share of responses with a 5xx status over the window.
    errors: Threshold = Threshold(0.02, 0.20)
    # Accept queue of the listening socket over its backlog limit.
    backlog: Threshold = Threshold(0.10, 0.50)
    # Run queue (runnable tasks) and 1-minute load, per core.
    cpu: Threshold = Threshold(1.5, 3.0)
    # PSI `some avg10` percentages.
    psi_cpu: Threshold = Threshold(40.0, 80.0)
    psi_memory: Threshold = Threshold(5.0, 25.0)
    psi_io: Threshold = Threshold(20.0, 60.0)
    # Open file descriptors over RLIMIT_NOFILE.
    fds: Threshold = Threshold(0.70, 0.90)
    # Sliding window for latency and errors, and the minimum requests it must hold
    # before latency or errors vote.
    window_seconds: float = 10.0
    min_requests: int = 20
    # A 5xx ratio at or above this (with min_requests) means failing: `down #...`.
    fail_error_ratio: float = 0.5
    # Latencies below this are treated as this, so a 1 ms baseline does not turn a
    # 4 ms response into "4x slower".
    latency_floor_seconds: float = 0.010
    # Time constant of the baseline EWMA, and the latency pressure below which the
    # baseline may learn (it must not learn the overload it should detect).
    baseline_tau_seconds: float = 60.0
    baseline_learn_below: float = 0.25
    # Time constant of the in-flight average.
    inflight_tau_seconds: float = 3.0
    release_per_second: float = 0.10
    enter_overloaded: float = 1.0
    leave_overloaded: float = 0.7
    floor_pct: int = 10
    step_pct: int = 10


def weight_for(score: float, floor_pct: int = 10) -> int:
    """The agent weight (percent of the configured weight) for an overload score.

    100% at a score of 0, falling linearly to `floor_pct` at a score of 1, rounded to
    a multiple of 5. Monotonic: a higher score never gives a higher weight.
    """
    score = min(max(score, 0.0), 1.0)
    raw = 100.0 - (100.0 - floor_pct) * score
    return max(floor_pct, min(100, int(5 * round(raw / 5))))


class State(StrEnum):
    READY = "ready"
    OVERLOADED = "overloaded"
    DRAINING = "draining"
    MAINT = "maint"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class Reading:
    """One signal's value, its pressure after hysteresis, and what it means in words."""

    name: str
    value: float
    pressure: float
    detail: str


@dataclass(frozen=True)
class Assessment:
    """What the server should tell its balancer right now."""

    state: State
    score: float
    weight_pct: int
    readings: tuple[Reading, ...]
    reason: str
    requests: int
    p50: float | None
    p99: float | None
    baseline_p50: float | None
    baseline_p99: float | None
    in_flight: float
    capacity: int | None
    maxconn: int | None = None

    @property
    def ready(self) -> bool:
        return self.state is State.READY

    @property
    def worst(self) -> Reading | None:
        return max(self.readings, key=lambda r: r.pressure, default=None)

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "ready": self.ready,
            "score": round(self.score, 3),
            "weight_pct": self.weight_pct,
            "reason": self.reason,
            "requests_in_window": self.requests,
            "in_flight": round(self.in_flight, 2),
            "capacity": self.capacity,
            "latency": {
                "p50_ms": _ms(self.p50),
                "p99_ms": _ms(self.p99),
                "baseline_p50_ms": _ms(self.baseline_p50),
                "baseline_p99_ms": _ms(self.baseline_p99),
            },
            "signals": [
                {
                    "name": r.name,
                    "value": round(r.value, 4),
                    "pressure": round(r.pressure, 3),
                    "detail": r.detail,
                }
                for r in self.readings
            ],
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


@dataclass
class HostSignals:
    """Which host-level signals to read; off by default for in-process use in tests."""

    listen_port: int | None = None
    # The app's listen() backlog; /proc/net/tcp does not show it. 128 was SOMAXCONN
    # for decades and is what many servers still pass.
    listen_backlog: int = 128
    cpu: bool = False
    psi: bool = False
    fds: bool = False
    fd_pid: int | None = None


def _percentile(sorted_values: list[float], q: float) -> float:
    # Nearest-rank: the value below which q of the samples fall, no interpolation.
    index = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


@dataclass
class OverloadMonitor:
    """The shared overload state of one server, fed by middlewares or a sidecar."""

    capacity: int | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    host: HostSignals = field(default_factory=HostSignals)
    clock: Callable[[], float] = time.monotonic
    maxconn: int | None = None
    # A fixed baseline (seconds, p50 and p99) instead of a learned one.
    baseline: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        now = self.clock()
        self._lock = threading.Lock()
        self._assess_lock = threading.Lock()
        self._in_flight = 0
        self._area = 0.0
        self._changed = now
        self._done: deque[tuple[float, float, bool]] = deque(maxlen=200_000)
        self._last_eval = now
        self._last_area = 0.0
        self._avg_in_flight = 0.0
        self._smoothed: dict[str, float] = {}
        self._weight = 100
        self._overloaded = False
        self._base50: float | None = self.baseline[0] if self.baseline else None
        self._base99: float | None = self.baseline[1] if self.baseline else None
        self._learn = self.baseline is None
        self._gauge: float | None = None
        self._last_counters: tuple[float, dict[str, int]] | None = None
        self._failing: tuple[str, float] | None = None
        self.draining = False
        self.maint = False
        self.failure: str | None = None

    # ------------------------------------------------------------------ hot path

    def request_started(self) -> float:
        """Count a request in flight; returns its start time for `request_finished`."""
        now = self.clock()
        with self._lock:
            self._area += self._in_flight * (now - self._changed)
            self._changed = now
            self._in_flight += 1
        return now

    def request_finished(self, started: float, status: int) -> None:
        now = self.clock()
        with self._lock:
            self._area += self._in_flight * (now - self._changed)
            self._changed = now
            self._in_flight -= 1
            self._done.append((now, now - started, status >= 500))

    def observe_in_flight(self, value: float) -> None:
        """A sidecar's reading of in-flight requests (a status page), instead of hooks."""
        now = self.clock()
        with self._lock:
            self._area += self._current() * (now - self._changed)
            self._changed = now
            self._gauge = value

    @property
    def in_flight_now(self) -> float:
        """Requests in flight at this instant (hooks) or at the last status reading."""
        with self._lock:
            return self._current()

    def _current(self) -> float:
        return self._gauge if self._gauge is not None else float(self._in_flight)

    # ------------------------------------------------------------------ assessment

    def assess(self) -> Assessment:
        """Evaluate every signal now; call it every second or so, and on every query.

        Safe from any thread: the smoothing state is updated under its own lock.
        """
        with self._assess_lock:
            return self._assess()

    def _assess(self) -> Assessment:
        t = self.thresholds
        now = self.clock()
        with self._lock:
            self._area += self._current() * (now - self._changed)
            self._changed = now
            area = self._area
            in_flight_now = self._current()
            cutoff = now - t.window_seconds
            done = self._done
            while done and done[0][0] < cutoff:
                done.popleft()
            window = list(done)
        dt = max(now - self._last_eval, 0.0)
        if dt > 0:
            mean = (area - self._last_area) / dt
            alpha = 1.0 - math.exp(-dt / t.inflight_tau_seconds)
            self._avg_in_flight += alpha * (mean - self._avg_in_flight)
        else:
            self._avg_in_flight = max(self._avg_in_flight, in_flight_now)
        self._last_eval, self._last_area = now, area

        raw: list[Reading] = []
        if self.capacity:
            ratio = self._avg_in_flight / self.capacity
            raw.append(
                Reading(
                    "inflight",
                    ratio,
                    t.inflight.pressure(ratio),
                    f"{self._avg_in_flight:.1f} requests in flight on average for a "
                    f"capacity of {self.capacity}",
                )
            )
        p50 = p99 = None
        count = len(window)
        if count >= t.min_requests:
            latencies = sorted(w[1] for w in window)
            p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
            raw.extend(self._latency_readings(p50, p99, dt))
            errors = sum(1 for w in window if w[2]) / count
            raw.append(
                Reading(
                    "errors",
                    errors,
                    t.errors.pressure(errors),
                    f"{errors:.0%} of {count} responses in {t.window_seconds:g}s were 5xx",
                )
            )
            if errors >= t.fail_error_ratio:
                failing = f"{errors:.0%} of {count} responses were 5xx"
            else:
                failing = None
        else:
            failing = None
        if failing:
            self._failing = (failing, now + 2 * t.window_seconds)
        elif self._failing is not None:
            # Once down, the balancer sends nothing, so a quiet window proves nothing:
            # hold the verdict for two windows unless healthy traffic shows up.
            held, until = self._failing
            if count < t.min_requests and now < until:
                failing = held
            else:
                self._failing = None
        raw.extend(self._host_readings(now))

        readings = []
        for r in raw:
            prev = self._smoothed.get(r.name, 0.0)
            p = max(r.pressure, prev - t.release_per_second * dt)
            p = min(max(p, 0.0), 1.0)
            self._smoothed[r.name] = p
            readings.append(Reading(r.name, r.value, p, r.detail))
        score = max((r.pressure for r in readings), default=0.0)

        if self._overloaded:
            self._overloaded = score >= t.leave_overloaded
        else:
            self._overloaded = score >= t.enter_overloaded
        target = weight_for(score, t.floor_pct)
        if target != self._weight and (
            abs(target - self._weight) >= t.step_pct or target in (100, t.floor_pct)
        ):
            self._weight = target

        failure = self.failure or failing
        worst = max(readings, key=lambda r: r.pressure, default=None)
        if failure:
            state, weight, reason = State.FAILING, 0, failure
        elif self.maint:
            state, weight, reason = State.MAINT, 0, "maintenance requested"
        elif self.draining:
            state, weight, reason = State.DRAINING, 0, "drain requested"
        elif self._overloaded:
            state, weight = State.OVERLOADED, self._weight
            reason = f"overloaded: {worst.detail}" if worst else "overloaded"
        else:
            state, weight = State.READY, self._weight
            reason = worst.detail if worst and worst.pressure > 0 else "ok"
        return Assessment(
            state=state,
            score=score,
            weight_pct=weight,
            readings=tuple(readings),
            reason=reason,
            requests=count,
            p50=p50,
            p99=p99,
            baseline_p50=self._base50,
            baseline_p99=self._base99,
            in_flight=self._avg_in_flight,
            capacity=self.capacity,
            maxconn=self.maxconn,
        )

    def _latency_readings(self, p50: float, p99: float, dt: float) -> list[Reading]:
        t = self.thresholds
        floor = t.latency_floor_seconds
        if self._base50 is None or self._base99 is None:
            self._base50, self._base99 = max(p50, floor), max(p99, floor)
        r50 = max(p50, floor) / self._base50
        r99 = max(p99, floor) / self._base99
        p_50, p_99 = t.latency_p50.pressure(r50), t.latency_p99.pressure(r99)
        if self._learn and max(p_50, p_99) < t.baseline_learn_below and dt > 0:
            alpha = 1.0 - math.exp(-dt / t.baseline_tau_seconds)
            self._base50 += alpha * (max(p50, floor) - self._base50)
            self._base99 += alpha * (max(p99, floor) - self._base99)
        return [
            Reading(
                "latency_p50",
                r50,
                p_50,
                f"p50 {p50 * 1000:.1f} ms is {r50:.1f}x the baseline {self._base50 * 1000:.1f} ms",
            ),
            Reading(
                "latency_p99",
                r99,
                p_99,
                f"p99 {p99 * 1000:.1f} ms is {r99:.1f}x the baseline {self._base99 * 1000:.1f} ms",
            ),
        ]

    def _host_readings(self, now: float) -> list[Reading]:
        t = self.thresholds
        out: list[Reading] = []
        h = self.host
        if h.listen_port is not None:
            backlog = host.read_listen_backlog(h.listen_port)
            if backlog is not None:
                ratio = backlog.queued / max(h.listen_backlog, 1)
                detail = (
                    f"accept queue of port {h.listen_port} holds {backlog.queued} "
                    f"connections (backlog {h.listen_backlog})"
                )
                counters = host.read_tcp_counters()
                if self._last_counters is not None and now > self._last_counters[0]:
                    then, before = self._last_counters
                    rate = (counters.get("PassiveOpens", 0) - before.get("PassiveOpens", 0)) / (
                        now - then
                    )
                    drops = counters.get("ListenOverflows", 0) - before.get("ListenOverflows", 0)
                    detail += f"; host accepts {rate:.0f}/s"
                    if drops > 0:
                        # The kernel dropped connections because a queue was full.
                        ratio = max(ratio, t.backlog.full)
                        detail += f", {drops} listen overflows"
                self._last_counters = (now, counters)
                out.append(Reading("backlog", ratio, t.backlog.pressure(ratio), detail))
        if h.cpu:
            cpu = host.read_cpu_load()
            if cpu is not None:
                per_core = max(cpu.load1, cpu.running) / cpu.cores
                out.append(
                    Reading(
                        "cpu",
                        per_core,
                        t.cpu.pressure(per_core),
                        f"load {cpu.load1:.2f} and {cpu.running} runnable on {cpu.cores} cores",
                    )
                )
        if h.psi:
            for name, threshold in (
                ("cpu", t.psi_cpu),
                ("memory", t.psi_memory),
                ("io", t.psi_io),
            ):
                value = host.read_psi(name)
                if value is not None:
                    out.append(
                        Reading(
                            f"psi_{name}",
                            value,
                            threshold.pressure(value),
                            f"{name} pressure: tasks stalled {value:.1f}% of the last 10 s",
                        )
                    )
        if h.fds:
            fds = host.read_fd_usage(h.fd_pid)
            if fds is not None:
                ratio = fds.open / fds.limit
                out.append(
                    Reading(
                        "fds",
                        ratio,
                        t.fds.pressure(ratio),
                        f"{fds.open} of {fds.limit} file descriptors open",
                    )
                )
        return out
