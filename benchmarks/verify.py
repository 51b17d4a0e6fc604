"""Benchmark: requests per second through the sandboxed haproxy and nginx, and the wall
time of a complete `lbguard verify` (start, traffic, stop) on a 3-server config.

Targets: >= 10,000 requests/s through the balancer; a complete verify of a small
config in < 5 s.

    python benchmarks/verify.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from timing import best_of

from lbguard.parsers.haproxy import parse_haproxy
from lbguard.sandbox.run import loopback_trace, run_haproxy, run_nginx
from lbguard.simulate.traffic import TrafficModel

HAPROXY = """\
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend www
    bind :80
    default_backend app
backend app
    balance roundrobin
    server web-01 10.0.0.1:80 check
    server web-02 10.0.0.2:80 check
    server web-03 10.0.0.3:80 check
"""

NGINX = """\
events { worker_connections 1024; }
http {
    upstream app {
        server 10.0.0.1:80;
        server 10.0.0.2:80;
        server 10.0.0.3:80;
    }
    server {
        listen 80;
        location / { proxy_pass http://app; }
    }
}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=5000)
    args = ap.parse_args()
    trace = loopback_trace(TrafficModel(requests=args.requests, seed=1).generate())
    with tempfile.TemporaryDirectory() as tmp:
        hcfg = Path(tmp) / "haproxy.cfg"
        hcfg.write_text(HAPROXY)
        config = parse_haproxy([str(hcfg)]).config
        pool = config.pool("app")
        assert pool is not None
        obs = run_haproxy(str(hcfg), config, pool, trace)
        print(f"haproxy sandbox: {obs.sent / obs.seconds:8.0f} requests/s ({obs.sent} sent)")
        ncfg = Path(tmp) / "nginx.conf"
        ncfg.write_text(NGINX)
        nobs, _ = run_nginx(str(ncfg), "app", trace)
        print(f"nginx sandbox  : {nobs.sent / nobs.seconds:8.0f} requests/s ({nobs.sent} sent)")
        lbguard = shutil.which("lbguard") or str(Path(sys.executable).parent / "lbguard")
        wall, code = best_of([lbguard, "verify", "--requests", "2000", str(hcfg)], 3)
        print(
            f"lbguard verify (3 servers, 2,000 requests, start to stop): {wall:.2f} s "
            f"(exit {code}, best of 3; target < 5 s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
