"""Benchmark: what `lbguard watch --probe` adds to each poll.

Prints, for an nginx config of 3 upstreams x 20 servers, all loopback stubs:

1. one probe round (every server probed over HTTP at /healthz, 16 at once), median and
   worst of the rounds, next to the same 60 requests made one after another with bare
   sockets in the same run (the floor a round cannot beat by much on 2 cores);
2. the same round while one stub answers in 200 ms: concurrency keeps the round near
   the slowest server, not the sum;
3. merging a round's verdicts into a snapshot of 1,000 pools x 20 servers with 1% of
   the servers down.

    python benchmarks/watch_probe.py [--rounds N]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

from lbguard.health.probe import ProbeReport, ServerResult, probe_config
from lbguard.sandbox.haproxy_box import free_port
from lbguard.sandbox.stubs import StubFarm, StubServer
from lbguard.watch.collectors.configfile import load_config
from lbguard.watch.collectors.probe import merge, probed_pools
from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot


def bare_round(ports: list[int]) -> float:
    started = time.perf_counter()
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    ports = [free_port() for _ in range(60)]
    stubs = [StubServer(f"s{i}", p) for i, p in enumerate(ports)]
    farm = StubFarm(stubs)
    farm.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            upstreams = "\n".join(
                f"upstream app{u} {{\n"
                + "".join(f"  server 127.0.0.1:{p};\n" for p in ports[u * 20 : u * 20 + 20])
                + "}"
                for u in range(3)
            )
            cfg = Path(tmp) / "nginx.conf"
            cfg.write_text(f"events {{}}\nhttp {{\n{upstreams}\n}}\n")
            pools = probed_pools(load_config(str(cfg)), "/healthz")

            def probe_round() -> float:
                started = time.perf_counter()
                report = probe_config(pools, timeout=2.0)
                assert all(r.status == "up" for r in report.servers), report.problems
                return time.perf_counter() - started

            rounds, bare = [], []
            for _ in range(args.rounds):  # interleaved, so both see the same load
                rounds.append(probe_round())
                bare.append(bare_round(ports))
            print(
                f"probe round, 60 servers: median {statistics.median(rounds) * 1000:.1f} ms, "
                f"worst {max(rounds) * 1000:.1f} ms; 60 bare sequential requests: median "
                f"{statistics.median(bare) * 1000:.1f} ms "
                f"(ratio {statistics.median(rounds) / statistics.median(bare):.2f})"
            )
            stubs[7].latency = 0.2
            slow = [probe_round() for _ in range(max(3, args.rounds // 4))]
            stubs[7].latency = 0.0
            print(
                f"probe round with one server at 200 ms: median "
                f"{statistics.median(slow) * 1000:.1f} ms"
            )
    finally:
        farm.stop()

    servers = tuple(ServerSample(f"s{i}", "UP") for i in range(20))
    snapshot = Snapshot(0.0, {f"b{n}": PoolSample(f"b{n}", servers) for n in range(1000)})
    report = ProbeReport(
        [
            ServerResult(f"b{n}", f"s{i}", "", "down" if (n * 20 + i) % 100 == 0 else "up")
            for n in range(1000)
            for i in range(20)
        ]
    )
    took = []
    for _ in range(5):
        started = time.perf_counter()
        merged = merge(snapshot, report)
        took.append(time.perf_counter() - started)
    down = sum(s.status == "DOWN" for p in merged.pools.values() for s in p.servers)
    print(
        f"merge into 1,000 x 20 servers ({down} down): median "
        f"{statistics.median(took) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
