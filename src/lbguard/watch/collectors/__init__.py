"""Where live statistics come from: one interface, one module per kind of source.

A collector turns one poll of its source into a `Snapshot` of cumulative counters,
or raises `CollectorError` with a one-line reason (refused, timed out, not the
format expected). The daemon turns repeated failures into the `blind` alert; it never
stops polling because a source failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from lbguard.redact import redact_url
from lbguard.watch.snapshot import Snapshot

if TYPE_CHECKING:
    import httpx


class CollectorError(Exception):
    """The source could not be read this time; the message says why, on one line."""


class Collector(Protocol):
    """A source of snapshots. `source` names it for humans, with secrets masked."""

    source: str

    async def collect(self) -> Snapshot: ...

    async def close(self) -> None: ...


def from_spec(spec: str, *, timeout: float = 5.0) -> Collector:
    """A collector for `--haproxy-stats`: unix:PATH, http(s)://HOST:PORT/PATH, or a
    `prometheus+http(s)://` URL for HAProxy's built-in exporter."""
    if spec.startswith("unix:"):
        from lbguard.watch.collectors.haproxy_csv import SocketStats

        return SocketStats(spec.removeprefix("unix:"), timeout=timeout)
    if spec.startswith("prometheus+"):
        from lbguard.watch.collectors.prometheus import PrometheusStats

        return PrometheusStats(spec.removeprefix("prometheus+"), timeout=timeout)
    if spec.startswith(("http://", "https://")):
        from lbguard.watch.collectors.haproxy_csv import HttpStats

        return HttpStats(spec, timeout=timeout)
    if spec.startswith("/"):
        from lbguard.watch.collectors.haproxy_csv import SocketStats

        return SocketStats(spec, timeout=timeout)
    raise ValueError(
        f"'{spec}' is not a stats source: use unix:PATH, http://HOST:PORT/PATH or "
        "prometheus+http://HOST:PORT/metrics"
    )


async def fetch_text(client: httpx.AsyncClient, url: str, timeout: float, what: str) -> str:
    """GET `url` and return its body; every failure is a one-line `CollectorError`."""
    import httpx

    try:
        response = await client.get(url)
    except httpx.TimeoutException:
        raise CollectorError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CollectorError(redact_url(text)) from None
    if response.status_code != 200:
        raise CollectorError(f"HTTP {response.status_code} from {what}")
    return response.text
