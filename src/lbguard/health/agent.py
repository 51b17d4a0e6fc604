"""`lbguard agent`: tells the balancer how loaded this server is, before it falls over.

Two listeners share one `OverloadMonitor`:

- the HAProxy agent-check port: on each connection it writes one line in the grammar
  of HAProxy's `agent-check` (words separated by spaces, the line ended by a newline,
  a description after a word-initial `#` only with a health word) and closes;
- an HTTP port with `GET /healthz` (liveness: the agent is running) and `GET /readyz`
  (200 when ready, 503 when overloaded, draining or failing; JSON detail). By
  default it is the agent-check port + 1, which is where `lbguard probe` looks.

Both are plain asyncio, so the agent runs in-process next to any app (in a background
thread for WSGI apps, see `AgentThread`) without an HTTP framework of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lbguard.health.overload import Assessment, OverloadMonitor, State

# A health word is followed by ` #description` up to the end of the line; HAProxy
# shows it in `show stat` (last_agt) and in its logs. The `#` must start a word:
# HAProxy 2.6 reads `down#reason` as one unknown word and ignores the `down`.
_MAX_REASON = 120
# After a drain or maint, say `ready` for this long so every balancer that polls the
# agent sees it; never otherwise, because `ready` would also cancel an operator's
# drain set through the runtime API.
READY_AFTER_ADMIN_SECONDS = 30.0


def agent_reply(assessment: Assessment, *, say_ready: bool = False) -> str:
    """The agent-check line for an assessment, newline-terminated."""
    state = assessment.state
    if state is State.FAILING:
        reason = " ".join(assessment.reason.split())[:_MAX_REASON] or "failing"
        return f"down #{reason}\n"
    if state is State.MAINT:
        return "maint\n"
    if state is State.DRAINING:
        return "up drain\n"
    words = ["up"]
    if say_ready:
        words.append("ready")
    words.append(f"{assessment.weight_pct}%")
    if assessment.maxconn:
        words.append(f"maxconn:{assessment.maxconn}")
    return " ".join(words) + "\n"


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}
_REASONS[503] = "Service Unavailable"


class Agent:
    """Serves the agent-check and HTTP ports for one monitor on one event loop."""

    def __init__(
        self,
        monitor: OverloadMonitor,
        *,
        host: str = "127.0.0.1",
        agent_port: int = 0,
        http_port: int | None = None,
        tick: float = 1.0,
        poll: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.monitor = monitor
        self.host = host
        self.agent_port = agent_port
        # None: the agent-check port + 1; -1: no HTTP listener.
        self.http_port = http_port
        self.tick = tick
        self._poll = poll
        self._servers: list[asyncio.base_events.Server] = []
        self._ticker: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._last: Assessment | None = None
        self._admin_until = 0.0
        self.replies = 0

    def assess(self) -> Assessment:
        """Evaluate once; the ticker and every query call it, so time-based smoothing works."""
        with self._lock:
            a = self.monitor.assess()
            if a.state in (State.DRAINING, State.MAINT):
                self._admin_until = time.monotonic() + READY_AFTER_ADMIN_SECONDS
            self._last = a
            return a

    @property
    def last(self) -> Assessment | None:
        """The most recent assessment (from the ticker or a query), without a new one."""
        return self._last

    def reply(self) -> str:
        a = self.assess()
        return agent_reply(a, say_ready=time.monotonic() < self._admin_until)

    async def start(self) -> None:
        agent = await asyncio.start_server(self._agent_conn, self.host, self.agent_port)
        self._servers.append(agent)
        self.agent_port = agent.sockets[0].getsockname()[1]
        if self.http_port != -1:
            port = self.agent_port + 1 if self.http_port is None else self.http_port
            http = await asyncio.start_server(self._http_conn, self.host, port)
            self._servers.append(http)
            self.http_port = http.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _tick(self) -> None:
        while True:
            if self._poll is not None:
                with contextlib.suppress(Exception):
                    await self._poll()
            self.assess()
            await asyncio.sleep(self.tick)

    async def _agent_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(self.reply().encode("ascii", "replace"))
            self.replies += 1
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            await _close(writer)

    async def _http_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            request_line = head.split(b"\r\n", 1)[0]
            response = self._route(request_line)
            reason = _REASONS.get(response.status, "OK")
            writer.write(
                f"HTTP/1.1 {response.status} {reason}\r\nContent-Type: {response.content_type}"
                f"\r\nContent-Length: {len(response.body)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n\r\n".encode()
                + (b"" if request_line.startswith(b"HEAD ") else response.body)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except (ConnectionError, OSError):
            pass
        finally:
            await _close(writer)

    def _route(self, request_line: bytes) -> _Response:
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3:
            return _Response(400, b'{"error": "bad request"}')
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if path not in ("/healthz", "/readyz"):
            return _Response(404, b'{"error": "not found; try /healthz or /readyz"}')
        if method not in ("GET", "HEAD"):
            return _Response(405, b'{"error": "use GET"}')
        if path == "/healthz":
            return _Response(200, b'{"status": "alive"}')
        a = self.assess()
        body = json.dumps(a.to_json(), sort_keys=True).encode()
        return _Response(200 if a.ready else 503, body)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


class AgentThread:
    """An `Agent` on its own event loop in a daemon thread, for WSGI apps and tests."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> AgentThread:
        self._thread = threading.Thread(target=self._run, name="lbguard-agent", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the lbguard agent did not start within 10 s")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.agent.start())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self.agent.stop())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> AgentThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
