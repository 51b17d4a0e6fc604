"""The middlewares in real servers: a Starlette app under uvicorn and a Flask app under
werkzeug, on loopback. They must count in-flight requests, latency and errors exactly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.serving import make_server

from health_helpers import free_port, wait_for
from lbguard.health.middleware import OverloadMiddleware, WSGIOverloadMiddleware
from lbguard.health.overload import OverloadMonitor

GATE_TIMEOUT = 15.0


def starlette_app(monitor: OverloadMonitor, gate: threading.Event) -> Starlette:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def slow(request: Request) -> PlainTextResponse:
        deadline = time.monotonic() + GATE_TIMEOUT
        while not gate.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return PlainTextResponse("slow")

    async def boom(request: Request) -> PlainTextResponse:
        return PlainTextResponse("no", status_code=503)

    async def crash(request: Request) -> PlainTextResponse:
        raise RuntimeError("handler crashed")

    app = Starlette(
        routes=[
            Route("/ok", ok),
            Route("/slow", slow),
            Route("/boom", boom),
            Route("/crash", crash),
        ]
    )
    app.add_middleware(OverloadMiddleware, monitor=monitor)  # the one line
    return app


def flask_app(monitor: OverloadMonitor, gate: threading.Event) -> Flask:
    app = Flask("lbguard-test")

    @app.route("/ok")
    def ok() -> str:
        return "ok"

    @app.route("/slow")
    def slow() -> str:
        gate.wait(GATE_TIMEOUT)
        return "slow"

    @app.route("/boom")
    def boom() -> tuple[str, int]:
        return "no", 503

    @app.route("/crash")
    def crash() -> str:
        raise RuntimeError("handler crashed")

    app.wsgi_app = WSGIOverloadMiddleware(app.wsgi_app, monitor)  # type: ignore[method-assign]
    return app


@pytest.fixture(params=["starlette", "flask"])
def served(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[str, OverloadMonitor, threading.Event]]:
    monitor = OverloadMonitor(capacity=8)
    gate = threading.Event()
    port = free_port()
    if request.param == "starlette":
        config = uvicorn.Config(
            starlette_app(monitor, gate),
            host="127.0.0.1",
            port=port,
            log_level="critical",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_for(lambda: server.started, 10, 0.02)
        try:
            yield f"http://127.0.0.1:{port}", monitor, gate
        finally:
            gate.set()
            server.should_exit = True
            thread.join(10)
    else:
        wsgi = make_server("127.0.0.1", port, flask_app(monitor, gate), threaded=True)
        thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}", monitor, gate
        finally:
            gate.set()
            wsgi.shutdown()
            wsgi.server_close()
            thread.join(10)


def test_counts_requests_errors_and_in_flight_exactly(
    served: tuple[str, OverloadMonitor, threading.Event],
) -> None:
    base, monitor, gate = served
    with httpx.Client(base_url=base, timeout=20) as client:
        for _ in range(20):
            assert client.get("/ok").status_code == 200
        for _ in range(5):
            assert client.get("/boom").status_code == 503
        for _ in range(3):
            # uvicorn drops the connection after an app exception: do not reuse it.
            crashed = client.get("/crash", headers={"Connection": "close"})
            assert crashed.status_code == 500
        # A server may send the response before it closes the request on its side.
        wait_for(lambda: monitor.in_flight_now == 0, 10, 0.01)
        a = monitor.assess()
        assert a.requests == 28
        errors = next(r for r in a.readings if r.name == "errors")
        assert abs(errors.value - 8 / 28) < 1e-9
        assert monitor.in_flight_now == 0

        # Three requests held inside the app are three in flight, no more, no less.
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(client.get, "/slow") for _ in range(3)]
            wait_for(lambda: monitor.in_flight_now == 3, 10, 0.01)
            time.sleep(0.2)
            assert monitor.in_flight_now == 3
            gate.set()
            assert all(f.result().status_code == 200 for f in futures)
        wait_for(lambda: monitor.in_flight_now == 0, 10, 0.01)
        a = monitor.assess()
        assert a.requests == 31
        # The held requests took at least 0.2 s: they are the slowest in the window.
        assert a.p99 is not None and a.p99 >= 0.2
        assert a.p50 is not None and a.p50 < 0.1
