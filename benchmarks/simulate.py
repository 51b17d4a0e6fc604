"""Benchmark: simulated requests per second per algorithm family, and log analysis speed.

Prints, for 1M and 10M request traces, how many requests per second the models
process (target >= 10M/s for the round-robin and hash families), and the time to
read a generated 1M-line access log (~124 MB) and count requests per upstream,
against `mawk '{c[$(NF-1)]++}'` on the same file (target <= 2x mawk).

    python benchmarks/simulate.py [--sizes 1000000 10000000] [--log-lines 1000000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lbguard.model import Balance, Dialect, Location, Pool, Server
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import TrafficModel

LOC = Location("bench", 1)


def pool(algorithm: str, key: str | None = None, hash_type: str = "map-based") -> Pool:
    servers = tuple(
        Server(f"s{i}", f"10.0.0.{i}", 8080, LOC, weight=1 + i % 3, address_text=f"10.0.0.{i}:8080")
        for i in range(1, 11)
    )
    return Pool(
        "app", "backend", LOC, Balance(algorithm, LOC, key=key, hash_type=hash_type), servers
    )


CASES = [
    ("haproxy roundrobin", Dialect.HAPROXY, pool("roundrobin")),
    ("haproxy static-rr", Dialect.HAPROXY, pool("static-rr")),
    ("nginx round_robin", Dialect.NGINX, pool("round_robin")),
    ("haproxy source (map-based)", Dialect.HAPROXY, pool("source", "src")),
    ("haproxy uri (map-based)", Dialect.HAPROXY, pool("uri", "uri")),
    ("nginx ip_hash", Dialect.NGINX, pool("ip_hash", "$remote_addr")),
    ("nginx hash $uri consistent", Dialect.NGINX, pool("hash", "$uri", "consistent")),
    # $request_uri carries the query string: ~1 distinct key per 3 requests here.
    ("nginx hash $request_uri", Dialect.NGINX, pool("hash", "$request_uri")),
]


def bench_models(sizes: list[int]) -> None:
    for n in sizes:
        trace_started = time.perf_counter()
        trace = TrafficModel(requests=n, seed=3).generate()
        built = time.perf_counter() - trace_started
        print(f"\ntrace of {n:,} requests built in {built:.1f} s")
        for label, dialect, p in CASES:
            started = time.perf_counter()
            simulate(p, dialect, trace)
            spent = time.perf_counter() - started
            print(f"  {label:<30} {n / spent / 1e6:8.2f} M requests/s ({spent:.2f} s)")


def make_log(path: Path, lines: int) -> None:
    rnd = random.Random(5)
    ups = [f"10.0.0.{i}:8080" for i in range(1, 11)]
    with path.open("w") as fh:
        for n in range(lines):
            fh.write(
                f"198.51.{rnd.randrange(256)}.{rnd.randrange(256)} - - [24/Nov/2026:10:00:"
                f'{n // 1000 % 60:02d} +0000] "GET /p/{rnd.randrange(9999)} HTTP/1.1" 200 '
                f'{rnd.randrange(99999)} "-" "Mozilla/5.0" {rnd.choice(ups)} '
                f"0.0{rnd.randrange(99)}\n"
            )


def bench_log(lines: int) -> None:
    from lbguard.accesslog import read_access_log, upstream_counts

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "access.log"
        make_log(path, lines)
        print(f"\naccess log: {lines:,} lines, {path.stat().st_size / 1e6:.0f} MB")
        started = time.perf_counter()
        upstream_counts(read_access_log(path))
        ours = time.perf_counter() - started
        print(f"  lbguard (polars)           : {ours:.2f} s")
        mawk = shutil.which("mawk")
        if mawk:
            started = time.perf_counter()
            subprocess.run([mawk, "{c[$(NF-1)]++}", str(path)], check=True)
            theirs = time.perf_counter() - started
            print(f"  mawk '{{c[$(NF-1)]++}}'      : {theirs:.2f} s")
            print(f"  ratio                      : {ours / theirs:.2f} (target <= 2.0)")
        else:
            print("  mawk is not installed: no comparison (apt-get install mawk)")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--log-lines", type=int, default=1_000_000)
    args = ap.parse_args()
    bench_models(args.sizes)
    bench_log(args.log_lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
