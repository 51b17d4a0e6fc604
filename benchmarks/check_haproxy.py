"""Benchmark: `lbguard check --no-native` against `haproxy -c` on a 125k-line config.

Generates 5,000 backends x 20 servers with use_backend rules, then times both on
the same file in the same run and prints the times, the ratio and lbguard's peak
memory. Target: lbguard <= 1.0 x haproxy -c, peak memory <= 600 MB.

    python benchmarks/check_haproxy.py [--backends 5000] [--servers 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import best_of, compile_lbguard


def generate(path: Path, backends: int, servers: int) -> int:
    lines = [
        "global",
        "    maxconn 100000",
        "",
        "defaults",
        "    mode http",
        "    option redispatch",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout queue 10s",
        "",
        "frontend www",
        "    bind 127.0.0.1:8080",
    ]
    for b in range(backends):
        lines.append(f"    use_backend be_{b:05d} if {{ hdr(host) -i app{b}.example.com }}")
    lines.append("    default_backend be_00000")
    lines.append("")
    for b in range(backends):
        algo = ("roundrobin", "leastconn", "source", "uri")[b % 4]
        lines += [
            f"backend be_{b:05d}",
            f"    balance {algo}",
            "    option httpchk GET /healthz",
            "    default-server check inter 2s fall 3 rise 2 maxconn 200",
        ]
        third, fourth = (b // 250) % 250 + 1, b % 250 + 1
        for s in range(servers):
            lines.append(f"    server s{s:02d} 10.{third}.{fourth}.{s + 1}:8080 weight {1 + s % 4}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def peak_rss_mb(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", type=int, default=5000)
    ap.add_argument("--servers", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    lbguard = shutil.which("lbguard") or str(Path(sys.executable).parent / "lbguard")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    compile_lbguard()
    with tempfile.TemporaryDirectory(prefix="lbguard-bench-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        n = generate(cfg, args.backends, args.servers)
        size = cfg.stat().st_size / 1e6
        print(
            f"config: {n} lines, {size:.1f} MB, {args.backends} backends x {args.servers} servers"
        )
        ours, code = best_of(
            [lbguard, "check", "--no-native", "--format", "json", str(cfg)], args.repeat
        )
        print(f"lbguard check --no-native : {ours:6.2f} s (exit {code}, best of {args.repeat})")
        mem = peak_rss_mb([lbguard, "check", "--no-native", "--format", "json", str(cfg)])
        print(f"lbguard peak memory       : {mem:6.0f} MB (target <= 600 MB)")
        if os.access(haproxy, os.X_OK):
            theirs, hcode = best_of([haproxy, "-c", "-dr", "-f", str(cfg)], args.repeat)
            print(f"haproxy -c                : {theirs:6.2f} s (exit {hcode})")
            print(f"ratio lbguard / haproxy   : {ours / theirs:6.2f} (target <= 1.0)")
        else:
            print("haproxy is not installed: no comparison")
    return 0


if __name__ == "__main__":
    sys.exit(main())
