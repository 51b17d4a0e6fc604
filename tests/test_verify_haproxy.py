"""The sandbox as the simulator's oracle: the real haproxy, request by request.

Each config runs in the real binary on loopback with stub backends; the same trace
(with real 127.x.y.z source addresses) goes through the model. For these
deterministic algorithms every request must land on the same server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import EXAMPLES, require_haproxy
from lbguard.model import Dialect
from lbguard.parsers.haproxy import parse_haproxy
from lbguard.sandbox.run import Observed, loopback_trace, run_haproxy
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import TrafficModel

HEAD = """\
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend www
    bind :80
    default_backend app
backend app
"""

MATRIX = {
    "roundrobin-weights": "    balance roundrobin\n{s1} weight 3\n{s2} weight 1\n{s3} weight 2\n",
    "static-rr-weight0": "    balance static-rr\n{s1} weight 2\n{s2} weight 0\n{s3} weight 1\n",
    "source-map": "    balance source\n{s1}\n{s2}\n{s3}\n",
    "source-consistent": "    balance source\n    hash-type consistent\n{s1}\n{s2}\n{s3}\n",
    "uri-depth": "    balance uri depth 2\n{s1}\n{s2} weight 2\n{s3}\n",
    "url-param": "    balance url_param user\n{s1}\n{s2}\n{s3}\n",
    "hdr-user": "    balance hdr(X-User)\n    hash-type consistent djb2\n{s1}\n{s2}\n{s3}\n",
    "first": "    balance first\n{s1}\n{s2}\n{s3}\n",
    "backup-first-only": "    balance roundrobin\n{s1} disabled\n{s2} backup\n{s3} backup\n",
    "allbackups": (
        "    balance roundrobin\n    option allbackups\n"
        "{s1} disabled\n{s2} backup\n{s3} backup weight 2\n"
    ),
}


def assert_agrees(observed: Observed, predicted: list[str], *, by_request: bool) -> None:
    """Every request answered, and by the predicted server (or in the predicted counts)."""
    assert observed.failed == 0 and observed.sent == len(predicted)
    if by_request:
        assert dict(zip(observed.indices, observed.sequence, strict=True)) == dict(
            enumerate(predicted)
        )
    else:
        assert Counter(observed.sequence) == Counter(predicted)


@pytest.mark.native
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_real_haproxy_matches_the_model(name: str, tmp_path: Path) -> None:
    require_haproxy()
    servers = {f"s{i}": f"    server s{i} 10.9.9.{i}:80" for i in range(1, 4)}
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HEAD + MATRIX[name].format(**servers))
    config = parse_haproxy([str(cfg)]).config
    pool = config.pool("app")
    assert pool is not None
    trace = loopback_trace(
        TrafficModel(requests=240, clients=60, client_subnets=20, uris=50, seed=9).generate()
    )
    model = simulate(pool, Dialect.HAPROXY, trace)
    predicted = [pool.servers[i].name if i >= 0 else "" for i in model.picks]
    # One request at a time, in trace order: the same server for every request.
    observed = run_haproxy(str(cfg), config, pool, trace, timeout=30, ordered=True)
    assert observed.failed == 0
    assert observed.sequence == predicted
    # The balancer's own counters agree with what the stubs saw.
    assert {k: v for k, v in observed.stats.items() if v} == dict(observed.counts)
    # At full speed (keep-alive, pipelined, concurrent) hashes still pick the same
    # server per request, and the order-dependent algorithms the same counts.
    fast = run_haproxy(str(cfg), config, pool, trace, timeout=30)
    assert_agrees(fast, predicted, by_request=pool.balance.is_hash)


@pytest.mark.native
def test_verify_command_fails_the_incident_and_passes_the_fix() -> None:
    require_haproxy()

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "lbguard",
                "verify",
                "--format",
                "json",
                "--requests",
                "300",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    bad = run(EXAMPLES / "incident" / "haproxy.cfg")
    assert bad.returncode == 1, bad.stderr
    (pool,) = json.loads(bad.stdout)["pools"]
    assert pool["verdict"] == "fail" and pool["max_share"] == 1.0
    web01 = next(s for s in pool["servers"] if s["name"] == "web-01")
    assert web01["observed_share"] == 1.0 and web01["stats_share"] == 1.0
    good = run(EXAMPLES / "incident" / "haproxy.fixed.cfg")
    assert good.returncode == 0, good.stdout
    shares = [s["observed_share"] for s in json.loads(good.stdout)["pools"][0]["servers"]]
    assert shares == [pytest.approx(1 / 3, abs=0.01)] * 3


@pytest.mark.native
def test_verify_replays_an_access_log(tmp_path: Path) -> None:
    require_haproxy()
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'203.0.113.{i % 3} - - [24/Nov/2026:10:00:00 +0000] "GET /p HTTP/1.1" 200 5 "-" "ua"\n'
            for i in range(90)
        )
    )
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HEAD
        + "    balance source\n"
        + "".join(f"    server s{i} 10.9.9.{i}:80\n" for i in range(1, 7))
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbguard",
            "verify",
            "--format",
            "json",
            "--traffic",
            str(log),
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc = json.loads(proc.stdout)
    assert doc["traffic"]["kind"] == "log" and doc["traffic"]["clients"] == 3
    (pool,) = doc["pools"]
    # Three clients can only reach three of the six servers, in the model and for real.
    assert pool["servers_answering"] <= 3
    assert all(
        s["observed_share"] == pytest.approx(s["predicted_share"], abs=1e-9)
        for s in pool["servers"]
    )


@pytest.mark.native
def test_a_staged_failing_server_is_taken_out_by_health_checks(tmp_path: Path) -> None:
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HEAD
        + "    balance roundrobin\n    option httpchk GET /healthz\n"
        + "    default-server check inter 100ms fall 2 rise 2\n"
        + "".join(f"    server web-0{i} 10.9.9.{i}:80\n" for i in range(1, 4))
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbguard",
            "verify",
            "--format",
            "json",
            "--requests",
            "1500",
            "--stub",
            "web-02:latency=2ms,status=503",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    (pool,) = json.loads(proc.stdout)["pools"]
    shares = {s["name"]: s["observed_share"] for s in pool["servers"]}
    # The 503s fail its health checks within ~200 ms; from then on the others share.
    assert shares["web-02"] < 0.25 and shares["web-01"] > 0.37 and shares["web-03"] > 0.37
    assert pool["verdict"] == "fail"


@pytest.mark.native
@pytest.mark.parametrize(("accept_proxy", "concentrated"), [(False, True), (True, False)])
def test_source_hash_behind_a_proxy_in_the_real_haproxy(
    tmp_path: Path, accept_proxy: bool, concentrated: bool
) -> None:
    """balance source behind a proxy: one server takes everything, unless the PROXY
    protocol restores the client address; the model agrees in both cases."""
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    head = HEAD.replace("bind :80", "bind :80 accept-proxy") if accept_proxy else HEAD
    cfg.write_text(
        head
        + "    balance source\n"
        + "".join(f"    server s{i} 10.9.9.{i}:80\n" for i in range(1, 4))
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbguard",
            "verify",
            "--format",
            "json",
            "--behind-proxy",
            "--requests",
            "300",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    (pool,) = json.loads(proc.stdout)["pools"]
    assert (pool["max_share"] == 1.0) is concentrated
    assert all(
        s["observed_share"] == pytest.approx(s["predicted_share"], abs=1e-9)
        for s in pool["servers"]
    )


@pytest.mark.native
@pytest.mark.parametrize(
    ("mode", "extra"),
    [
        ("http", "    option httpclose\n"),  # a close after every answer: pipelines resent
        ("http", "    option http-server-close\n"),
        ("tcp", ""),  # balanced per connection: one request each
        ("http", "    option prefer-last-server\n"),
    ],
)
def test_connection_handling_keeps_every_request_attributed(
    mode: str, extra: str, tmp_path: Path
) -> None:
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HEAD.replace("mode http", f"mode {mode}")
        + extra
        + "    balance roundrobin\n"
        + "".join(f"    server s{i} 10.9.9.{i}:80 weight {i}\n" for i in range(1, 4))
    )
    config = parse_haproxy([str(cfg)]).config
    pool = config.pool("app")
    assert pool is not None
    # Few clients, so each sends many requests over its connections.
    trace = loopback_trace(TrafficModel(requests=600, clients=8, seed=2).generate())
    model = simulate(pool, Dialect.HAPROXY, trace)
    fast = run_haproxy(str(cfg), config, pool, trace, timeout=30)
    assert_agrees(fast, [pool.servers[i].name for i in model.picks], by_request=False)


@pytest.mark.native
def test_start_up_errors_point_at_the_users_line(tmp_path: Path) -> None:
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HEAD + "    server s1 10.9.9.1:80 bogus-keyword\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lbguard", "verify", "--requests", "10", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith("lbguard: error: the balancer exited during start-up")
    assert f"[{cfg}:10]" in line and "bogus-keyword" in line and "\n" not in line


def test_staging_leaves_nothing_that_reaches_past_loopback(tmp_path: Path) -> None:
    import re

    text = (
        "global\n    log 192.0.2.1:514 local0\n    stats socket /run/haproxy.sock\n"
        "resolvers dns\n    nameserver ns1 192.0.2.53:53\n"
        "peers mesh\n    peer lb1 192.0.2.7:1024\n"
        + HEAD.replace("bind :80", "bind 192.0.2.80:443 ssl crt /etc/ssl/lb.pem\n    bind :8080")
        + "    balance roundrobin\n    source 192.0.2.9\n    dispatch 192.0.2.10:80\n"
        "    option tcp-check\n    tcp-check connect addr 192.0.2.11 port 3306 ssl\n"
        "    server s1 10.9.9.1:80 check addr 192.0.2.12 port 81 resolvers dns\n"
        "    server s2 backend.example.com:80 check ssl verify none sni str(x)\n"
        "    server-template web 3 _web._tcp.example.com resolvers dns\n"
    )
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    config = parse_haproxy([str(cfg)]).config
    from lbguard.sandbox.haproxy_box import build_sandbox

    box = build_sandbox(config, text.split("\n"), str(tmp_path))
    live = [line for line in box.text.split("\n") if not line.lstrip().startswith("#")]
    staged = "\n".join(live)
    addresses = re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", staged)
    assert addresses and all(a.startswith("127.") for a in addresses), addresses
    for outside in ("example.com", "/etc/", "/run/", "verify none", "addr", "port 3306"):
        assert outside not in staged, outside
    # The TLS bind is the one kept, with a certificate made inside the sandbox.
    assert f" ssl crt {tmp_path}/lbguard-sandbox.pem alpn http/1.1" in staged
    # Line for line: a failure still points at the user's line.
    original = text.split("\n")
    staged_lines = box.text.split("\n")

    def staged(line: str) -> str:
        return staged_lines[box.origin.index(original.index(line) + 1)]

    assert staged("    dispatch 192.0.2.10:80").startswith("# lbguard")
    assert staged("    bind :8080").startswith("# lbguard")
    assert staged("    balance roundrobin") == "    balance roundrobin"
    # Every line of the user's is there, in order, once.
    assert sorted(set(box.origin) - {0}) == list(range(1, len(original) + 1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stub", "web-09:status=503"], "--stub web-09: no such server"),
        (["--stub", "web-02:latency=soon"], "expected NAME:latency=50ms,status=503"),
        (["--tolerance", "2"], "is not in the range"),
        # Read as nginx, the HAProxy config has no upstream: --dialect is honoured.
        (["--dialect", "nginx"], "no backend to verify"),
    ],
)
def test_bad_options_are_one_line_usage_errors(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lbguard",
            "verify",
            *args,
            str(EXAMPLES / "incident" / "haproxy.cfg"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.native
def test_a_tls_bind_is_served_with_a_sandbox_certificate(tmp_path: Path) -> None:
    """Plain HTTP redirected to HTTPS, as so many frontends do: the sandbox keeps the
    TLS bind (with a certificate of its own) and sends its traffic there, so rules on
    ssl_fc see what they see in production and every request reaches a server."""
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HEAD.replace(
            "    bind :80\n",
            "    bind :80\n    bind :443 ssl crt /etc/haproxy/site.pem alpn h2,http/1.1\n"
            "    http-request redirect scheme https unless { ssl_fc }\n",
        )
        + "    balance uri\n"
        + "".join(f"    server s{i} 10.9.9.{i}:80 weight {i}\n" for i in range(1, 4))
    )
    config = parse_haproxy([str(cfg)]).config
    pool = config.pool("app")
    assert pool is not None
    trace = loopback_trace(TrafficModel(requests=300, clients=40, uris=60, seed=12).generate())
    observed = run_haproxy(str(cfg), config, pool, trace, timeout=30)
    model = simulate(pool, Dialect.HAPROXY, trace)
    assert_agrees(observed, [pool.servers[i].name for i in model.picks], by_request=True)
    assert {k: v for k, v in observed.stats.items() if v} == dict(observed.counts)


@pytest.mark.native
def test_a_backend_behind_use_backend_rules_gets_the_whole_trace(tmp_path: Path) -> None:
    """The model sends every request to the pool; so does the sandbox, through a
    frontend of its own, when the user's frontends reach it only by an ACL."""
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HEAD.replace(
            "    default_backend app\n",
            "    use_backend api if { path_beg /api/ }\n    default_backend app\n",
        )
        + "    balance roundrobin\n    server w1 10.9.9.1:80\n    server w2 10.9.9.2:80\n"
        + "backend api\n    balance uri\n"
        + "    server a1 10.9.8.1:80 weight 3\n    server a2 10.9.8.2:80\n"
    )
    argv = ["verify", "--format", "json", "--pool", "api", "--requests", "600", str(cfg)]
    proc = subprocess.run(
        [sys.executable, "-m", "lbguard", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (pool,) = json.loads(proc.stdout)["pools"]
    assert pool["requests_failed"] == 0 and pool["requests_sent"] == 600
    assert all(s["observed_share"] == s["predicted_share"] for s in pool["servers"])
    assert any("use_backend" in note for note in pool["notes"])


# Two files, as `haproxy -f 10-defaults.cfg -f 20-app.cfg` reads them: the first
# file's default-server weight (3) applies to the second file's s1.
MERGE_DEFAULTS = """\
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    default-server weight 3
"""
MERGE_APP = """\
frontend www
    bind :80
    default_backend app

backend app
    balance roundrobin
    server s1 10.9.9.1:80
    server s2 10.9.9.2:80 weight 1
    server s3 10.9.9.3:80 weight 1{extra}
"""


def _lbguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lbguard", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.native
def test_merge_verifies_several_files_as_one_config(tmp_path: Path) -> None:
    require_haproxy()
    (tmp_path / "10-defaults.cfg").write_text(MERGE_DEFAULTS)
    (tmp_path / "20-app.cfg").write_text(MERGE_APP.format(extra=""))
    proc = _lbguard("verify", "--merge", "--format", "json", "--requests", "1000", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (pool,) = json.loads(proc.stdout)["pools"]
    shares = {s["name"]: (s["predicted_share"], s["observed_share"]) for s in pool["servers"]}
    assert shares == {"s1": (0.6, 0.6), "s2": (0.2, 0.2), "s3": (0.2, 0.2)}
    assert proc.stderr == ""
    # One file at a time, the defaults do not reach the backend: equal shares, and a
    # notice that says how to read the files as HAProxy does.
    alone = _lbguard("verify", "--format", "json", "--requests", "300", str(tmp_path))
    assert alone.returncode == 0, alone.stderr
    (pool,) = json.loads(alone.stdout)["pools"]
    assert {s["name"]: s["observed_share"] for s in pool["servers"]} == dict.fromkeys(
        ("s1", "s2", "s3"), pytest.approx(1 / 3, abs=0.01)
    )
    assert "pass --merge" in alone.stderr


@pytest.mark.native
def test_merged_start_up_errors_point_at_the_file_and_line(tmp_path: Path) -> None:
    require_haproxy()
    (tmp_path / "10-defaults.cfg").write_text(MERGE_DEFAULTS)
    app = tmp_path / "20-app.cfg"
    app.write_text(MERGE_APP.format(extra=" bogus-keyword"))
    proc = _lbguard("verify", "--merge", "--requests", "10", str(tmp_path))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert f"[{app}:9]" in line and "bogus-keyword" in line and "\n" not in line


def test_simulate_merge_reads_the_defaults_of_an_earlier_file(tmp_path: Path) -> None:
    (tmp_path / "10-defaults.cfg").write_text(MERGE_DEFAULTS)
    (tmp_path / "20-app.cfg").write_text(MERGE_APP.format(extra=""))
    proc = _lbguard("simulate", "--merge", "--format", "json", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (pool,) = json.loads(proc.stdout)["pools"]
    assert {s["name"]: s["predicted_share"] for s in pool["servers"]} == {
        "s1": 0.6,
        "s2": 0.2,
        "s3": 0.2,
    }
