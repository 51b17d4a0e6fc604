"""Benchmark: `lbguard check --no-native` against `haproxy -c` on a 125k-line config.

Generates 5,000 backends x 20 servers with use_backend rules, then times both on
the same file, taking turns (lbguard, haproxy, lbguard, ...) so that both see the
same machine, and prints the best and median times, their ratios and lbguard's peak
memory. Target: lbguard <= 1.0 x haproxy -c, peak memory <= 600 MB.

    python benchmarks/check_haproxy.py [--backends 5000] [--servers 20] [--repeat 7]
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

from timing import alternate, best_of, compile_lbguard, median


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
    ap.add_argument("--repeat", type=int, default=7)
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
        argv = [lbguard, "check", "--no-native", "--format", "json", str(cfg)]
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        mem = peak_rss_mb(argv)
        if not os.access(haproxy, os.X_OK):
            ours, _ = best_of(argv, args.repeat)
            print(f"lbguard check --no-native : {ours:6.2f} s (exit {code.returncode})")
            print(f"lbguard peak memory       : {mem:6.0f} MB (target <= 600 MB)")
            print("haproxy is not installed: no comparison")
            return 0
        times = alternate(
            {"lbguard": argv, "haproxy": [haproxy, "-c", "-dr", "-f", str(cfg)]}, args.repeat
        )
        ours, theirs = times["lbguard"], times["haproxy"]
        print(f"runs, taking turns        : {args.repeat} each")
        print(
            f"lbguard check --no-native : best {min(ours):5.2f} s, median {median(ours):5.2f} s "
            f"(exit {code.returncode})"
        )
        print(
            f"haproxy -c                : best {min(theirs):5.2f} s, median {median(theirs):5.2f} s"
        )
        print(f"lbguard peak memory       : {mem:6.0f} MB (target <= 600 MB)")
        print(
            f"ratio lbguard / haproxy   : best {min(ours) / min(theirs):5.2f}, "
            f"median {median(ours) / median(theirs):5.2f} (target <= 1.0)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
