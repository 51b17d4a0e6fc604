"""HAProxy's built-in Prometheus exporter (`http-request use-service prometheus-exporter`).

Read for sites that expose only /metrics. The exporter has no `act`/`bck` columns, so
backup servers are known from the config (`--lb-config`); everything else the
detectors use has a metric of its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from lbguard.redact import redact_url
from lbguard.watch.collectors import CollectorError, fetch_text
from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot

# metric -> (ServerSample field, converter)
_FIELDS: dict[str, tuple[str, Callable[[float], object]]] = {
    "haproxy_server_weight": ("weight", int),
    "haproxy_server_uweight": ("user_weight", int),
    "haproxy_server_loadbalanced_total": ("lbtot", int),
    "haproxy_server_sessions_total": ("stot", int),
    "haproxy_server_current_sessions": ("scur", int),
    "haproxy_server_limit_sessions": ("slim", int),
    "haproxy_server_current_queue": ("qcur", int),
    "haproxy_server_check_failures_total": ("chkfail", int),
    "haproxy_server_check_last_change_seconds": ("lastchg", int),
    "haproxy_server_current_throttle": ("throttle", int),
    "haproxy_server_queue_time_average_seconds": ("qtime_ms", lambda v: v * 1000.0),
    "haproxy_server_response_time_average_seconds": ("rtime_ms", lambda v: v * 1000.0),
    "haproxy_server_total_time_average_seconds": ("ttime_ms", lambda v: v * 1000.0),
}


def parse_exposition(text: str, at: float | None = None, source: str = "") -> Snapshot:
    """Pools and servers from the exporter's text; `CollectorError` when it has none."""
    from prometheus_client.parser import text_string_to_metric_families

    servers: dict[tuple[str, str], dict[str, object]] = {}
    backends: dict[str, str] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        raise CollectorError(f"not Prometheus exposition text ({exc})") from None
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            name = sample.name
            if name == "haproxy_backend_status" and sample.value == 1:
                backends[labels.get("proxy", "")] = labels.get("state", "")
                continue
            if not name.startswith("haproxy_server_") or "server" not in labels:
                continue
            fields = servers.setdefault((labels.get("proxy", ""), labels["server"]), {})
            if name == "haproxy_server_status":
                if sample.value == 1:
                    fields["status"] = labels.get("state", "")
            elif name == "haproxy_server_http_responses_total":
                if not math.isnan(sample.value):
                    fields["responses"] = int(fields.get("responses", 0)) + int(sample.value)  # type: ignore[call-overload]
                    if labels.get("code") == "5xx":
                        fields["hrsp_5xx"] = int(sample.value)
            elif name in _FIELDS and not math.isnan(sample.value):
                attr, convert = _FIELDS[name]
                fields[attr] = convert(sample.value)
    if not servers and not backends:
        raise CollectorError("no haproxy_server_* metrics (is this HAProxy's exporter?)")
    pools: dict[str, list[ServerSample]] = {}
    for (proxy, server), fields in servers.items():
        pools.setdefault(proxy, []).append(ServerSample(server, **fields))  # type: ignore[arg-type]
    snapshot_pools = {
        name: PoolSample(name, tuple(pools.get(name, ())), backends.get(name, ""))
        for name in {**backends, **pools}
    }
    return Snapshot(time.monotonic() if at is None else at, snapshot_pools, source)


class PrometheusStats:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        import httpx

        self.url = url
        self.source = "prometheus+" + redact_url(url)
        self.timeout = timeout
        self._client = httpx.AsyncClient(timeout=timeout)

    async def collect(self) -> Snapshot:
        text = await fetch_text(self._client, self.url, self.timeout, "the exporter")
        return parse_exposition(text, source=self.source)

    async def close(self) -> None:
        await self._client.aclose()
