"""Sidecar sources: an app server's own status page, read for requests in flight.

For servers lbguard cannot hook into (any language, any server), the sidecar agent
polls what the server already publishes: nginx `stub_status`, Apache
`server-status?auto`, or a Prometheus text endpoint with an in-flight gauge. The
format is recognised from the body, so the user only gives the URL.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from lbguard.health.overload import OverloadMonitor

# Gauges that mean "requests being handled now" in common Prometheus exporters.
DEFAULT_METRICS = (
    "lbguard_requests_in_flight",
    "http_requests_in_flight",
    "http_server_active_requests",
    "http_requests_inflight",
)
# After this many failed polls in a row the server is reported failing.
FAILURES_BEFORE_DOWN = 3


@dataclass(frozen=True, slots=True)
class StatusReading:
    kind: str
    in_flight: float
    capacity: int | None = None


def parse_status(text: str, metric: str | None = None) -> StatusReading | None:
    """In-flight requests (and capacity where the page says it) from a status page body."""
    if text.startswith("Active connections:"):
        # nginx stub_status: "Reading: r Writing: w Waiting: k"; waiting are idle
        # keep-alive connections, not work.
        for line in text.splitlines():
            if line.startswith("Reading:"):
                words = line.split()
                try:
                    return StatusReading("nginx", float(int(words[1]) + int(words[3])))
                except (IndexError, ValueError):
                    return None
        return None
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "BusyWorkers" in fields:
        try:
            busy = int(fields["BusyWorkers"])
            idle = int(fields.get("IdleWorkers", "0"))
        except ValueError:
            return None
        return StatusReading("apache", float(busy), busy + idle or None)
    names = (metric,) if metric else DEFAULT_METRICS
    total: float | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in names:
            try:
                sample = float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
            total = sample if total is None else total + sample
    if total is not None:
        return StatusReading("prometheus", total)
    return None


class StatusPoller:
    """Polls one status URL into a monitor; repeated failures mark the server failing."""

    def __init__(
        self,
        monitor: OverloadMonitor,
        url: str,
        *,
        metric: str | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.monitor = monitor
        self.url = url
        self.metric = metric
        self.timeout = timeout
        self.failures = 0
        self.last: StatusReading | None = None
        self._client: httpx.AsyncClient | None = None

    async def __call__(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        problem: str | None = None
        try:
            resp = await self._client.get(self.url)
            if resp.status_code >= 500:
                problem = f"status page answered {resp.status_code}"
            else:
                reading = parse_status(resp.text, self.metric)
                if reading is None:
                    problem = "status page not recognised (nginx, Apache or Prometheus)"
                else:
                    self.last = reading
        except httpx.HTTPError as exc:
            problem = f"status page unreachable ({type(exc).__name__})"
        if problem is None and self.last is not None:
            self.failures = 0
            if self.last.capacity and not self.monitor.capacity:
                self.monitor.capacity = self.last.capacity
            self.monitor.observe_in_flight(self.last.in_flight)
            if self.monitor.failure and self.monitor.failure.startswith("status page"):
                self.monitor.failure = None
            return
        self.failures += 1
        if self.failures >= FAILURES_BEFORE_DOWN:
            self.monitor.failure = problem

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
