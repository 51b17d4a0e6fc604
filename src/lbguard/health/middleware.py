"""In-process sources: ASGI and WSGI middlewares that feed an `OverloadMonitor`.

Inside the app, in-flight requests, latency and errors are known exactly, with no
sampling. One line adds them:

```python
app.add_middleware(OverloadMiddleware, monitor=monitor)          # Starlette
app.wsgi_app = WSGIOverloadMiddleware(app.wsgi_app, monitor)      # Flask
```

A request counts from the moment the server hands it to the app until its response
body is finished (ASGI: the app returns; WSGI: the response iterable is closed), and
an exception counts as a 500, so a crashing handler is seen as one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from lbguard.health.overload import OverloadMonitor

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class OverloadMiddleware:
    """ASGI middleware; `app.add_middleware(OverloadMiddleware, monitor=m)` in Starlette."""

    def __init__(self, app: ASGIApp, monitor: OverloadMonitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        monitor = self.monitor
        started = monitor.request_started()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status = 500
            raise
        finally:
            monitor.request_finished(started, status)


StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WSGIOverloadMiddleware:
    """WSGI middleware; `app.wsgi_app = WSGIOverloadMiddleware(app.wsgi_app, m)` in Flask."""

    def __init__(self, app: WSGIApp, monitor: OverloadMonitor) -> None:
        self.app = app
        self.monitor = monitor

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        monitor = self.monitor
        started = monitor.request_started()
        status = [500]

        def start(status_line: str, headers: Any, exc_info: Any = None) -> Any:
            try:
                status[0] = int(status_line[:3])
            except ValueError:
                status[0] = 500
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            monitor.request_finished(started, 500)
            raise
        return _Tracked(body, monitor, started, status)


class _Tracked:
    """The app's response body; the request ends when the server closes it (PEP 3333)."""

    __slots__ = ("_body", "_done", "_monitor", "_started", "_status")

    def __init__(
        self, body: Iterable[bytes], monitor: OverloadMonitor, started: float, status: list[int]
    ) -> None:
        self._body = body
        self._monitor = monitor
        self._started = started
        self._status = status
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except BaseException:
            self._status[0] = 500
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                self._monitor.request_finished(self._started, self._status[0])
