"""Benchmark: `lbguard audit` of the 125k-line config against its baseline, and `trail verify`.

1. The check benchmark's config (5,000 backends x 20 servers) is approved as a baseline,
   then `lbguard audit --no-native` and `lbguard check --no-native` are timed on it in
   the same run. Target: audit <= 2 x check. Then one weight is changed and the audit
   timed again, to show that finding and ranking drift costs little more.
2. A SQLite trail of 1,000,000 hash-chained records is bulk-written (one transaction,
   the same record hashes lbguard computes), then `lbguard trail verify` is timed.
   Target: <= 10 s.

    python benchmarks/audit.py [--backends 5000] [--servers 20] [--records 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from check_haproxy import generate


def measure(argv: list[str], repeat: int) -> tuple[float, float, int]:
    """Best wall time and best CPU time (user + system) of `repeat` runs, and the exit.

    On a shared machine the wall time swings with other load; the CPU time the command
    itself used is the steadier figure, so both are printed.
    """
    wall = cpu = float("inf")
    code = 0
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        wall = min(wall, time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu = min(cpu, used)
    return wall, cpu, code


def bulk_trail(url: str, db: Path, records: int) -> float:
    """Write `records` chained records straight into the trail table; returns seconds."""
    from lbguard.store import open_store
    from lbguard.store.canonical import canonical_json, format_time
    from lbguard.store.trail import GENESIS, record_hash

    open_store(url).close()  # creates the schema at head
    start = time.perf_counter()
    t0 = datetime(2026, 11, 30, tzinfo=UTC)
    kinds = ("check", "alert", "audit", "health", "deploy")
    prev = GENESIS
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    batch: list[tuple[int, str, str, str | None, str, str, str]] = []
    for seq in range(1, records + 1):
        kind = kinds[seq % len(kinds)]
        at = format_time(t0 + timedelta(milliseconds=seq))
        body = canonical_json({"n": seq, "pool": f"be_{seq % 5000:05d}", "state": "firing"})
        digest = record_hash(seq, at, kind, "app", prev, body)
        batch.append((seq, at, kind, "app", body, prev, digest))
        prev = digest
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO trail VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO trail VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
    conn.execute("INSERT INTO trail_head (id, seq, hash) VALUES (1, ?, ?)", (records, prev))
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", type=int, default=5000)
    ap.add_argument("--servers", type=int, default=20)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lbguard = shutil.which("lbguard") or str(Path(sys.executable).parent / "lbguard")
    with tempfile.TemporaryDirectory(prefix="lbguard-bench-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        n = generate(cfg, args.backends, args.servers)
        env = dict(os.environ, LBGUARD_STORE=f"sqlite:///{Path(tmp) / 'audit.db'}")
        print(f"config: {n} lines, {args.backends} backends x {args.servers} servers")
        start = time.perf_counter()
        subprocess.run(
            [lbguard, "baseline", "approve", "--no-native", str(cfg)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"lbguard baseline approve   : {time.perf_counter() - start:6.2f} s (once)")
        os.environ["LBGUARD_STORE"] = env["LBGUARD_STORE"]
        json_args = ["--no-native", "--format", "json", str(cfg)]
        check = measure([lbguard, "check", *json_args], args.repeat)
        audit = measure([lbguard, "audit", *json_args], args.repeat)
        print(f"lbguard check --no-native : {check[0]:6.2f} s wall, {check[1]:6.2f} s CPU")
        print(
            f"lbguard audit --no-native : {audit[0]:6.2f} s wall, {audit[1]:6.2f} s CPU "
            f"(exit {audit[2]})"
        )
        print(
            f"ratio audit / check       : {audit[0] / check[0]:6.2f} wall, "
            f"{audit[1] / check[1]:6.2f} CPU (target <= 2.0; best of {args.repeat})"
        )
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace(":8080 weight 2\n", ":8080 weight 7\n", 1), encoding="utf-8")
        drifted = measure([lbguard, "audit", *json_args], args.repeat)
        print(
            f"audit, one weight changed : {drifted[0]:6.2f} s wall, {drifted[1]:6.2f} s CPU "
            f"(exit {drifted[2]}: the drift is found)"
        )

        db = Path(tmp) / "trail.db"
        url = f"sqlite:///{db}"
        written = bulk_trail(url, db, args.records)
        print(f"trail: {args.records:,} records bulk-written in {written:.1f} s")
        os.environ["LBGUARD_STORE"] = url
        verify = measure([lbguard, "trail", "verify"], max(1, args.repeat - 1))
        print(
            f"lbguard trail verify      : {verify[0]:6.2f} s wall, {verify[1]:6.2f} s CPU "
            f"(exit {verify[2]}; target <= 10 s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
