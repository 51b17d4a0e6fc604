"""Benchmark: what the health layer costs, and how early it warns.

Prints:

1. the middlewares' overhead per request (p50 and p99, target <= 20 us at p50):
   a trivial ASGI and WSGI app called directly, with and without the middleware,
   interleaved in the same run;
2. the agent's reply latency over loopback (connect, read the line, close), next to
   a bare asyncio server that writes a constant line, in the same run;
3. lead time: a stub server with `--workers` workers and a bounded queue (beyond it,
   503) is driven by an open-loop Poisson load from another process, first at 70% of
   its capacity (the weight must not move), then in steps of +10% until it returns
   errors. The agent is polled like HAProxy's agent-inter (every 0.5 s); the figure
   is the seconds between its first "overloaded" and the server's first 5xx
   (target >= 5 s).

    python benchmarks/health.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import random
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from lbguard.health.agent import Agent, AgentThread
from lbguard.health.middleware import OverloadMiddleware, WSGIOverloadMiddleware
from lbguard.health.overload import OverloadMonitor


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------ 1. middleware


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def middleware_overhead(n: int) -> None:
    monitor = OverloadMonitor(capacity=100)
    wrapped = OverloadMiddleware(_asgi_app, monitor)
    scope = {"type": "http", "path": "/"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        return None

    async def run() -> tuple[list[float], list[float]]:
        bare, mw = [], []
        clock = time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            await _asgi_app(scope, receive, send)
            t1 = clock()
            await wrapped(scope, receive, send)
            t2 = clock()
            bare.append(t1 - t0)
            mw.append(t2 - t1)
        return bare, mw

    bare, mw = asyncio.run(run())
    _report("ASGI", bare, mw)

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    wrapped_wsgi = WSGIOverloadMiddleware(wsgi_app, monitor)

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    bare, mw = [], []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        list(wsgi_app({}, start_response))
        t1 = clock()
        body = wrapped_wsgi({}, start_response)
        list(body)
        body.close()  # type: ignore[attr-defined]
        t2 = clock()
        bare.append(t1 - t0)
        mw.append(t2 - t1)
    _report("WSGI", bare, mw)


def _report(name: str, bare: list[float], mw: list[float]) -> None:
    over50 = (pct(mw, 0.5) - pct(bare, 0.5)) / 1000
    over99 = (pct(mw, 0.99) - pct(bare, 0.99)) / 1000
    print(
        f"  {name} middleware: app alone p50 {pct(bare, 0.5) / 1000:.2f} us, with middleware "
        f"p50 {pct(mw, 0.5) / 1000:.2f} us -> overhead p50 {over50:.2f} us, p99 {over99:.2f} us"
        f" ({len(mw)} calls; target <= 20 us at p50)"
    )


# ------------------------------------------------------------------ 2. agent reply


def _query(port: int) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
    return time.perf_counter() - t0


def agent_latency(n: int) -> None:
    monitor = OverloadMonitor(capacity=100)
    agent = Agent(monitor, agent_port=0, http_port=-1)

    async def constant(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"up 100%\n")
        await w.drain()
        w.close()

    loop = asyncio.new_event_loop()
    import threading

    bare_server = loop.run_until_complete(asyncio.start_server(constant, "127.0.0.1", 0))
    bare_port = bare_server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    with AgentThread(agent):
        agent_times, bare_times = [], []
        for _ in range(n):
            agent_times.append(_query(agent.agent_port))
            bare_times.append(_query(bare_port))
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    print(
        f"  agent-check reply: p50 {pct(agent_times, 0.5) * 1e6:.0f} us, p99 "
        f"{pct(agent_times, 0.99) * 1e6:.0f} us; a bare asyncio server writing a constant "
        f"line: p50 {pct(bare_times, 0.5) * 1e6:.0f} us ({n} queries each, loopback)"
    )


# ------------------------------------------------------------------ 3. lead time


def _load(port: int, schedule: list[tuple[float, float]], seed: int) -> None:
    """Open-loop Poisson arrivals: (seconds, requests per second) per step."""
    rng = random.Random(seed)

    async def one(i: int) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(f"127.0.{i % 200 + 1}.{i % 250 + 1}", 0)
                ),
                5,
            )
            writer.write(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            await writer.drain()
            await asyncio.wait_for(reader.read(), 10)
            writer.close()
        except (OSError, TimeoutError):
            pass

    async def run() -> None:
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        t = 0.0
        i = 0
        for seconds, rate in schedule:
            end = t + seconds
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    t = end
                    break
                delay = start + t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                i += 1
                task = asyncio.create_task(one(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=15)

    asyncio.run(run())


class StubServer:
    """`workers` at a time, `service` seconds each; more than `queue` waiting -> 503."""

    def __init__(self, monitor: OverloadMonitor, workers: int, service: float, queue: int):
        self.monitor = monitor
        self.workers = workers
        self.service = service
        self.queue = queue
        self.waiting = 0
        self.first_error: float | None = None
        self.errors = 0
        self.served = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:
            # The run is over: requests still queued are dropped without a word.
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        started = self.monitor.request_started()
        status = 200
        if self.waiting >= self.queue:
            status = 503
        else:
            self.waiting += 1
            async with self.sem:
                self.waiting -= 1
                await asyncio.sleep(self.service * random.uniform(0.8, 1.2))
        if status >= 500:
            self.errors += 1
            if self.first_error is None:
                self.first_error = time.monotonic()
        else:
            self.served += 1
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
        self.monitor.request_finished(started, status)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


def lead_time(workers: int, service: float, steady: float, step: float) -> dict[str, Any]:
    capacity_rps = workers / service
    schedule = [(steady, 0.7 * capacity_rps)]
    schedule += [(step, f * capacity_rps) for f in (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)]
    monitor = OverloadMonitor(capacity=workers)
    stub = StubServer(monitor, workers, service, queue=4 * workers)
    agent = Agent(monitor, agent_port=0, http_port=0, tick=0.25)
    result: dict[str, Any] = {}

    async def main() -> None:
        stub.sem = asyncio.Semaphore(workers)  # type: ignore[attr-defined]
        server = await asyncio.start_server(stub.handle, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        await agent.start()
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_load, args=(port, schedule, 7))
        proc.start()
        t0 = time.monotonic()
        weights: list[tuple[float, int, str]] = []
        total = sum(s for s, _ in schedule)
        while time.monotonic() - t0 < total + 5 and proc.is_alive():
            await asyncio.sleep(0.5)
            reader, writer = await asyncio.open_connection("127.0.0.1", agent.agent_port)
            line = (await reader.readline()).decode().strip()
            writer.close()
            last = agent.last
            state = last.state.value if last else "?"
            if state == "overloaded" and "overloaded_by" not in result and last and last.worst:
                result["overloaded_by"] = last.worst.detail
            now = time.monotonic() - t0
            if now < steady and last and last.weight_pct < 100 and last.worst:
                result.setdefault("steady_moved_by", []).append(
                    f"{now:.1f}s {last.weight_pct}%: {last.worst.name} ({last.worst.detail})"
                )
            weights.append(
                (
                    time.monotonic() - t0,
                    int(line.split()[-1].rstrip("%")) if line.split()[-1].endswith("%") else 0,
                    state,
                )
            )
            if stub.first_error is not None and time.monotonic() - stub.first_error > 2:
                break
        proc.terminate()
        proc.join(5)
        server.close()
        await agent.stop()
        steady_weights = {w for t, w, _ in weights if t < steady}
        first_drop = next((t for t, w, _ in weights if w < 100), None)
        first_over = next((t for t, _, s in weights if s == "overloaded"), None)
        err = None if stub.first_error is None else stub.first_error - t0
        result.update(
            steady_weights=sorted(steady_weights),
            first_weight_drop_s=first_drop,
            first_overloaded_s=first_over,
            first_error_s=err,
            lead_time_s=None if err is None or first_over is None else err - first_over,
            weight_lead_s=None if err is None or first_drop is None else err - first_drop,
            served=stub.served,
            errors=stub.errors,
        )

    asyncio.run(main())
    return result


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--service-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else 50_000
    print("1. middleware overhead per request")
    middleware_overhead(n)
    print("2. agent reply latency")
    agent_latency(300 if args.quick else 2000)
    print("3. lead time")
    service = args.service_ms / 1000
    steady, step = (8.0, 3.0) if args.quick else (15.0, 4.0)
    print(
        f"  stub: {args.workers} workers x {args.service_ms:g} ms = "
        f"{args.workers / service:.0f} req/s capacity, queue {4 * args.workers}; load 70% for "
        f"{steady:g} s, then +10% every {step:g} s up to 150%"
    )
    r = lead_time(args.workers, service, steady, step)
    print(f"  weights reported during steady 70% load: {r['steady_weights']}")
    for line in r.get("steady_moved_by", [])[:5]:
        print(f"    moved at {line}")
    print(f"  first 'overloaded' because: {r.get('overloaded_by')}")
    print(
        f"  first weight drop at {_s(r['first_weight_drop_s'])}, first 'overloaded' at "
        f"{_s(r['first_overloaded_s'])}, first 5xx at {_s(r['first_error_s'])}"
    )
    print(
        f"  lead time (overloaded -> first error): {_s(r['lead_time_s'])}; from the first "
        f"weight drop: {_s(r['weight_lead_s'])} (target >= 5 s); {r['served']} served, "
        f"{r['errors']} errors"
    )
    print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
