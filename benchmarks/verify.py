"""Benchmark: requests per second through the sandboxed haproxy and nginx, and the wall
time of a complete `lbguard verify` (start, traffic, stop) on a 3-server config.

Targets: >= 10,000 requests/s through the balancer; a complete verify of a small
config in < 5 s. Each rate is printed for several runs, next to the same trace sent
one request at a time in trace order (what `ordered` does, and roughly how the
sandbox sent everything before), because on a shared two-core machine the ratio
measured in one run says more than any single figure. The load average is printed
for the same reason.

    python benchmarks/verify.py [--requests 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from timing import best_of

from lbguard.parsers.haproxy import parse_haproxy
from lbguard.sandbox.run import loopback_trace, run_haproxy, run_nginx
from lbguard.simulate.traffic import Trace, TrafficModel

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


def _cpu() -> float:
    """CPU seconds of this process and its finished children (balancer, stubs,
    sending processes): a figure that contention for the cores does not inflate."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    # verify's default population: 5,000 clients over 256 /24 networks.
    trace = loopback_trace(TrafficModel(requests=args.requests, seed=1).generate())
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        hcfg = Path(tmp) / "haproxy.cfg"
        hcfg.write_text(HAPROXY)
        config = parse_haproxy([str(hcfg)]).config
        pool = config.pool("app")
        assert pool is not None
        ncfg = Path(tmp) / "nginx.conf"
        ncfg.write_text(NGINX)
        ordered = trace.requests[: args.requests // 5]
        slow = Trace(ordered)
        for run in range(1, args.runs + 1):
            for name in ("haproxy", "nginx"):
                rates = []
                cpu = 0.0
                for t in (trace, slow):
                    before = _cpu()
                    if name == "haproxy":
                        obs = run_haproxy(str(hcfg), config, pool, t, ordered=t is slow)
                    else:
                        obs, _ = run_nginx(str(ncfg), "app", t, ordered=t is slow)
                    assert obs.failed == 0, f"{obs.failed} requests failed"
                    rates.append(obs.sent / obs.seconds)
                    if t is trace:
                        cpu = (_cpu() - before) / obs.sent * 1e6
                print(
                    f"run {run} {name:<8}: {rates[0]:8.0f} requests/s ({args.requests} requests, "
                    f"{cpu:.0f} us CPU each, all processes); one at a time: {rates[1]:6.0f}/s; "
                    f"ratio {rates[0] / rates[1]:4.1f}x"
                )
        lbguard = shutil.which("lbguard") or str(Path(sys.executable).parent / "lbguard")
        for n in (2000, 20_000):
            wall, code = best_of([lbguard, "verify", "--requests", str(n), str(hcfg)], 3)
            print(
                f"lbguard verify (3 servers, {n:,} requests, start to stop): {wall:.2f} s "
                f"(exit {code}, best of 3; target < 5 s)"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
