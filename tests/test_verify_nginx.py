"""The sandbox with the real nginx: request-by-request agreement with the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require_nginx
from lbguard.model import Dialect
from lbguard.sandbox.run import loopback_trace, run_nginx
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import TrafficModel
from test_verify_haproxy import assert_agrees

CONFIG = """\
worker_processes {workers};
events {{ worker_connections 256; }}
http {{
    upstream app {{
{method}
        server 10.9.9.1:80{p1};
        server 10.9.9.2:80{p2};
        server 10.9.9.3:80{p3};
    }}
    server {{
        listen 80;
        location / {{ proxy_pass http://app; proxy_next_upstream off; }}
    }}
}}
"""

MATRIX = {
    "rr-weights": ("", " weight=3", "", " weight=2", 1),
    "rr-backup-down": ("", " down", "", " backup", 1),
    "ip-hash": ("        ip_hash;", "", " weight=2", "", 1),
    "hash-uri": ("        hash $request_uri;", "", "", " weight=3", 1),
    "hash-consistent": ("        hash $remote_addr consistent;", "", " weight=2", "", 1),
    "ip-hash-down": ("        ip_hash;", "", " down", "", 1),
}


@pytest.mark.native
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_real_nginx_matches_the_model(name: str, tmp_path: Path) -> None:
    require_nginx()
    method, p1, p2, p3, workers = MATRIX[name]
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(method=method, p1=p1, p2=p2, p3=p3, workers=workers))
    trace = loopback_trace(
        TrafficModel(requests=200, clients=60, client_subnets=40, uris=40, seed=5).generate()
    )
    observed, config = run_nginx(str(cfg), "app", trace, timeout=30, ordered=True)
    assert observed.failed == 0
    pool = config.pool("app")
    assert pool is not None
    model = simulate(pool, Dialect.NGINX, trace)
    predicted = [pool.servers[i].name if i >= 0 else "" for i in model.picks]
    assert observed.sequence == predicted
    # Each run has its own stub ports, which `hash ... consistent` hashes: the model
    # reads that run's rewritten config.
    fast, config = run_nginx(str(cfg), "app", trace, timeout=30)
    pool = config.pool("app")
    assert pool is not None
    model = simulate(pool, Dialect.NGINX, trace)
    predicted = [pool.servers[i].name if i >= 0 else "" for i in model.picks]
    assert_agrees(fast, predicted, by_request=pool.balance.is_hash)


@pytest.mark.native
def test_verify_command_on_nginx(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    require_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(method="", p1=" backup", p2="", p3=" down", workers=1))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbguard",
            "verify",
            "--format",
            "json",
            "--requests",
            "200",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    (pool,) = json.loads(proc.stdout)["pools"]
    assert pool["balancer"] == "nginx"
    by_name = {s["name"]: s for s in pool["servers"]}
    assert by_name["10.9.9.2:80"]["observed_share"] == 1.0
    assert by_name["10.9.9.2:80"]["stats_share"] is None
    assert pool["verdict"] == "fail" and proc.returncode == 1


@pytest.mark.native
def test_two_workers_keep_weighted_shares(tmp_path: Path) -> None:
    """Two workers run two schedulers; which one accepts is the kernel's choice, so the
    sequence is not comparable request by request, but the shares still follow weights."""
    require_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(method="", p1=" weight=5", p2="", p3="", workers=2))
    trace = loopback_trace(TrafficModel(requests=700, seed=8).generate())
    observed, config = run_nginx(str(cfg), "app", trace, timeout=30)
    pool = config.pool("app")
    assert pool is not None and pool.workers == 2
    model = simulate(pool, Dialect.NGINX, trace).shares()
    total = sum(observed.counts.values())
    for server in pool.servers:
        got = observed.counts.get(server.name, 0) / total
        assert got == pytest.approx(model[server.name], abs=0.05), server.name


@pytest.mark.native
@pytest.mark.parametrize(
    "tuning",
    ["", "keepalive_requests 3;", "keepalive_timeout 0;"],
)
def test_client_connection_limits_lose_no_request(tuning: str, tmp_path: Path) -> None:
    """nginx closing keep-alive connections mid-pipeline: unanswered requests are
    resent on a new connection, never lost and never counted twice."""
    require_nginx()
    cfg = tmp_path / "nginx.conf"
    text = CONFIG.format(
        method="        hash $request_uri;", p1="", p2=" weight=2", p3="", workers=1
    )
    if tuning:
        text = text.replace("http {", "http {\n    " + tuning, 1)
    cfg.write_text(text)
    trace = loopback_trace(TrafficModel(requests=500, clients=6, uris=80, seed=4).generate())
    observed, config = run_nginx(str(cfg), "app", trace, timeout=30)
    pool = config.pool("app")
    assert pool is not None
    model = simulate(pool, Dialect.NGINX, trace)
    assert_agrees(observed, [pool.servers[i].name for i in model.picks], by_request=True)


@pytest.mark.native
@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_slow_asyncio_stub_behind_nginx(version: str, tmp_path: Path) -> None:
    """A staged slow server is an asyncio stub; nginx talks HTTP/1.0 to upstreams
    unless told otherwise, and the stub must close such connections itself."""
    require_nginx()
    cfg = tmp_path / "nginx.conf"
    text = CONFIG.format(method="        hash $request_uri;", p1="", p2="", p3="", workers=1)
    cfg.write_text(text.replace("proxy_next_upstream off;", f"proxy_http_version {version};"))
    trace = loopback_trace(TrafficModel(requests=300, uris=60, seed=11).generate())
    stage = {"10.9.9.2:80": (0.005, 200)}
    observed, config = run_nginx(str(cfg), "app", trace, timeout=30, stage=stage)
    pool = config.pool("app")
    assert pool is not None
    model = simulate(pool, Dialect.NGINX, trace)
    assert_agrees(observed, [pool.servers[i].name for i in model.picks], by_request=True)


@pytest.mark.native
def test_an_upstream_under_one_location_gets_the_whole_trace(tmp_path: Path) -> None:
    require_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(
        CONFIG.format(method="        ip_hash;", p1="", p2=" weight=2", p3="", workers=1)
        .replace("upstream app", "upstream web { server 10.9.7.1:80; }\n    upstream app")
        .replace("location / {", "location / { proxy_pass http://web; }\n        location /api/ {")
    )
    trace = loopback_trace(TrafficModel(requests=300, clients=80, seed=13).generate())
    observed, config = run_nginx(str(cfg), "app", trace, timeout=30)
    pool = config.pool("app")
    assert pool is not None
    model = simulate(pool, Dialect.NGINX, trace)
    assert_agrees(observed, [pool.servers[i].name for i in model.picks], by_request=True)
    assert any("only under some locations" in note for note in observed.notes)
