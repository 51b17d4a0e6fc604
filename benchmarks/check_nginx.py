"""Benchmark: `lbguard check --no-native` against `nginx -t` and `crossplane parse`.

Generates 5,000 upstreams x 20 servers plus 5,000 locations (about 115k lines),
then times all three on the same file in the same run and prints the times and
the ratios. Target: lbguard <= 1.0 x nginx -t.

    python benchmarks/check_nginx.py [--upstreams 5000] [--servers 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from timing import best_of, compile_lbguard


def generate(path: Path, upstreams: int, servers: int) -> int:
    lines = [
        "worker_processes 2;",
        "events { worker_connections 1024; }",
        "http {",
        "    access_log off;",
    ]
    for u in range(upstreams):
        method = ("", "least_conn;", "hash $request_uri consistent;", "ip_hash;")[u % 4]
        lines.append(f"    upstream app_{u:05d} {{")
        if method:
            lines.append(f"        {method}")
        third, fourth = (u // 250) % 250 + 1, u % 250 + 1
        for s in range(servers):
            lines.append(
                f"        server 10.{third}.{fourth}.{s + 1}:8080 weight={1 + s % 4} "
                "max_fails=3 fail_timeout=10s;"
            )
        lines.append("    }")
    lines += ["    server {", "        listen 127.0.0.1:8080;", "        server_name shop.example;"]
    for u in range(upstreams):
        lines.append(f"        location /svc/{u}/ {{ proxy_pass http://app_{u:05d}; }}")
    lines += ["    }", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--upstreams", type=int, default=5000)
    ap.add_argument("--servers", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    lbguard = shutil.which("lbguard") or str(bindir / "lbguard")
    crossplane = shutil.which("crossplane") or str(bindir / "crossplane")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    compile_lbguard()
    with tempfile.TemporaryDirectory(prefix="lbguard-bench-") as tmp:
        cfg = Path(tmp) / "nginx.conf"
        n = generate(cfg, args.upstreams, args.servers)
        print(f"config: {n} lines, {cfg.stat().st_size / 1e6:.1f} MB")
        ours, code = best_of(
            [lbguard, "check", "--no-native", "--format", "json", str(cfg)], args.repeat
        )
        print(f"lbguard check --no-native : {ours:6.2f} s (exit {code}, best of {args.repeat})")
        if Path(nginx).exists():
            argv = [nginx, "-t", "-q", "-p", f"{tmp}/", "-c", str(cfg)]
            argv += ["-g", f"pid {tmp}/nginx.pid; error_log {tmp}/error.log;"]
            theirs, ncode = best_of(argv, args.repeat)
            print(f"nginx -t                  : {theirs:6.2f} s (exit {ncode})")
            print(f"ratio lbguard / nginx -t  : {ours / theirs:6.2f} (target <= 1.0)")
        if Path(crossplane).exists():
            cp, ccode = best_of([crossplane, "parse", str(cfg)], args.repeat)
            print(f"crossplane parse          : {cp:6.2f} s (exit {ccode})")
            print(f"ratio lbguard / crossplane: {ours / cp:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
