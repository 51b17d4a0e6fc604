"""`/metrics`: what watch sees, in Prometheus exposition, on loopback unless told otherwise.

Per-server shares and scores are produced at scrape time from the engines' latest
evaluation (a custom collector), so a cycle over 20,000 servers pays nothing for
metrics between scrapes. The registry is passed in, never the global one, so every
test and every daemon in a process has its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from lbguard.watch.engine import Engine

_SERVER = ["balancer", "pool", "server"]


class _EngineCollector(Collector):
    def __init__(self, engines: Callable[[], Sequence[Engine]]) -> None:
        self.engines = engines

    def collect(self) -> Iterator[Metric]:
        observed = GaugeMetricFamily(
            "lbguard_watch_observed_share_ratio",
            "Share of the pool's recent requests that this server received.",
            labels=_SERVER,
        )
        expected = GaugeMetricFamily(
            "lbguard_watch_expected_share_ratio",
            "Share the config promises this server (weights over UP, non-backup servers).",
            labels=_SERVER,
        )
        score = GaugeMetricFamily(
            "lbguard_watch_deviation_score",
            "CUSUM statistic of the share test; the alarm level is the cusum_h threshold.",
            labels=_SERVER,
        )
        firing = GaugeMetricFamily(
            "lbguard_watch_alert_firing",
            "1 while an alert of this kind is firing for this pool and server.",
            labels=["balancer", "kind", "pool", "server", "severity"],
        )
        failures = GaugeMetricFamily(
            "lbguard_watch_source_failures",
            "Polls of the stats source that failed in a row (blind after blind_polls).",
            labels=["balancer"],
        )
        for engine in self.engines():
            b = engine.balancer
            failures.add_metric([b], engine.failures)
            for view in engine.views.values():
                for server, share in view.expectation.shares.items():
                    expected.add_metric([b, view.name, server], share)
                    observed.add_metric([b, view.name, server], view.observed.get(server, 0.0))
                for server, value in view.scores.items():
                    score.add_metric([b, view.name, server], value)
            for alert in engine.book.firing():
                firing.add_metric([b, alert.kind, alert.pool, alert.server, alert.severity], 1)
        yield from (observed, expected, score, firing, failures)


class WatchMetrics:
    """Counters the daemon bumps, plus the per-server gauges read from the engines."""

    def __init__(self, registry: CollectorRegistry, engines: Callable[[], Sequence[Engine]]):
        self.registry = registry
        self.polls = Counter(
            "lbguard_watch_polls",
            "Polls of a stats source, by result (ok or failed).",
            ["balancer", "result"],
            registry=registry,
        )
        self.poll_seconds = Histogram(
            "lbguard_watch_poll_duration_seconds",
            "Time to poll a source and evaluate the increments.",
            ["balancer"],
            registry=registry,
        )
        self.transitions = Counter(
            "lbguard_watch_alert_transitions",
            "Alert transitions, by kind and state (firing or resolved).",
            ["balancer", "kind", "state"],
            registry=registry,
        )
        registry.register(_EngineCollector(engines))


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Serve /metrics from a background thread; `server.server_port` is the bound port."""
    server = make_server(host, port, make_wsgi_app(registry), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="lbguard-metrics", daemon=True)
    thread.start()
    return server
