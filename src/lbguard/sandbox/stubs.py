"""Stub backends for the loopback sandbox: each counts what it served and says who it is.

Every stub answers any request with 200 and an `X-Lbguard-Server` header naming the
server it stands for, so the load generator counts per server independently of the
balancer's own statistics. They run in one background thread's asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StubServer:
    name: str
    port: int
    latency: float = 0.0
    status: int = 200


@dataclass
class StubFarm:
    """All stubs of one sandbox, on 127.0.0.1, served from a background thread."""

    stubs: list[StubServer]
    counts: Counter[str] = field(default_factory=Counter)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _servers: list[asyncio.base_events.Server] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lbguard-stubs", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("stub backends did not start")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        for stub in self.stubs:
            server = loop.run_until_complete(
                asyncio.start_server(
                    self._handler(stub), "127.0.0.1", stub.port, reuse_address=True
                )
            )
            self._servers.append(server)
        self._ready.set()
        loop.run_forever()
        for server in self._servers:
            server.close()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    def _handler(self, stub: StubServer):  # type: ignore[no-untyped-def]
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if not head:
                        break
                    health = head.startswith((b"OPTIONS", b"HEAD")) or b"/healthz" in head[:64]
                    if not health:
                        with self._lock:
                            self.counts[stub.name] += 1
                    if stub.latency:
                        await asyncio.sleep(stub.latency)
                    body = stub.name.encode()
                    writer.write(
                        f"HTTP/1.1 {stub.status} OK\r\nX-Lbguard-Server: {stub.name}\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                        + body
                    )
                    await writer.drain()
                    break
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

        return handle

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
