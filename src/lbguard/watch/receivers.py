"""Where alerts go: a JSON webhook, Alertmanager's v2 API, apprise URLs, or the terminal.

Receivers only send; queueing, retries and exactly-once bookkeeping are the outbox's
(`lbguard.watch.outbox`). A receiver raises `DeliveryError` with a one-line reason when
the other side did not take the alert, and the outbox retries it later.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TextIO

from lbguard.redact import redact_url


class DeliveryError(Exception):
    """The receiver did not accept the alert this time."""


class Receiver(Protocol):
    """`name` is the outbox's key for this receiver: stable across restarts."""

    name: str

    async def send(self, alert: Mapping[str, Any]) -> None: ...

    async def close(self) -> None: ...


class _Http:
    def __init__(self, url: str, timeout: float) -> None:
        import httpx

        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def _post(self, url: str, body: object, headers: Mapping[str, str]) -> None:
        import httpx

        try:
            response = await self._client.post(url, json=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DeliveryError(redact_url(text)) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")

    async def close(self) -> None:
        await self._client.aclose()


class WebhookReceiver(_Http):
    """POSTs `{"version": 1, "alert": {...}}`, with the outbox key as `Idempotency-Key`."""

    def __init__(self, url: str, *, name: str | None = None, timeout: float = 5.0) -> None:
        super().__init__(url, timeout)
        self.name = name or f"webhook:{redact_url(url)}"

    async def send(self, alert: Mapping[str, Any]) -> None:
        key = f"{alert['fingerprint']}:{alert['state']}:{alert['starts_at']}"
        await self._post(self.url, {"version": 1, "alert": dict(alert)}, {"Idempotency-Key": key})


def alertmanager_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    """One alert in Alertmanager's v2 `postableAlert` shape."""
    labels = {
        "alertname": f"lbguard-{alert['kind']}",
        "severity": str(alert["severity"]),
        "balancer": str(alert["balancer"]),
    }
    for key, value in dict(alert.get("labels") or {}).items():
        if key in ("balancer", "kind", "pool", "server") and value:
            labels[key] = str(value)
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": str(alert["summary"]),
            "runbook_url": str(alert.get("runbook_url") or ""),
            "fingerprint": str(alert["fingerprint"]),
        },
        "startsAt": alert["starts_at"],
    }
    if alert.get("ends_at"):
        body["endsAt"] = alert["ends_at"]
    return body


class AlertmanagerReceiver(_Http):
    """Alertmanager v2: `POST {url}/api/v2/alerts`; a resolved alert carries `endsAt`.

    Alertmanager resolves an alert by itself when nobody repeats it for its
    `resolve_timeout` (5 minutes by default), so the daemon re-sends what is still
    firing to receivers marked `refresh` (see `Daemon.refresh_every`).
    """

    refresh = True

    def __init__(self, url: str, *, name: str | None = None, timeout: float = 5.0) -> None:
        super().__init__(url.rstrip("/"), timeout)
        self.name = name or f"alertmanager:{redact_url(self.url)}"

    async def send(self, alert: Mapping[str, Any]) -> None:
        await self._post(f"{self.url}/api/v2/alerts", [alertmanager_alert(alert)], {})


def one_line(alert: Mapping[str, Any]) -> str:
    """`FIRING critical concentration app/web-01: ...`, or `RESOLVED ... after 12s (was: ...)`."""
    where = "/".join(p for p in (alert.get("pool"), alert.get("server")) if p)
    where = f" {where}" if where else ""
    head = f"{alert['severity']} {alert['kind']}{where}"
    if alert["state"] == "firing":
        return f"FIRING {head}: {alert['summary']}"
    took = ""
    with contextlib.suppress(KeyError, TypeError, ValueError):
        seconds = (
            datetime.fromisoformat(str(alert["ends_at"]))
            - datetime.fromisoformat(str(alert["starts_at"]))
        ).total_seconds()
        took = f" after {seconds:.0f}s"
    return f"RESOLVED {head}{took} (was: {alert['summary']})"


class AppriseReceiver:
    """Chat and e-mail through apprise URLs (slack://, mailto://, tgram://, ...)."""

    def __init__(self, urls: list[str], *, name: str | None = None) -> None:
        import warnings

        self.urls = urls
        import hashlib

        # Schemes for humans, a hash so two apprise receivers never share outbox rows.
        digest = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:8]
        schemes = ",".join(u.split("://", 1)[0] for u in urls)
        self.name = name or f"apprise:{schemes}:{digest}"
        with warnings.catch_warnings():
            # apprise loads its plugins on first use, and one imports `imghdr`
            # (deprecated since Python 3.11): its warning, not lbguard's.
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            self._apprise = apprise.Apprise()
            for url in urls:
                if not self._apprise.add(url):
                    raise ValueError(f"apprise does not understand the URL '{redact_url(url)}'")

    async def send(self, alert: Mapping[str, Any]) -> None:
        title = f"[lbguard] {one_line(alert)}"[:250]
        body = f"{alert['summary']}\n\nRunbook: {alert.get('runbook_url', '')}"
        ok = await asyncio.to_thread(self._apprise.notify, body=body, title=title)
        if not ok:
            raise DeliveryError("apprise could not notify every URL")

    async def close(self) -> None:
        return None


class LogReceiver:
    """One line per transition on a stream (stderr by default): the terminal or a log."""

    def __init__(self, stream: TextIO | None = None, *, name: str = "log") -> None:
        self.stream = stream
        self.name = name

    async def send(self, alert: Mapping[str, Any]) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"lbguard watch: {one_line(alert)}\n")
        stream.flush()

    async def close(self) -> None:
        return None
