"""Simulator properties and the simulate/diff commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES
from lbguard.model import Balance, Dialect, Location, Pool, Server
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import Request, Trace, TrafficModel

LOC = Location("t.cfg", 1)


def pool(weights: list[int], algorithm: str = "roundrobin", **balance: object) -> Pool:
    servers = tuple(
        Server(f"s{i + 1}", f"10.0.0.{i + 1}", 80, LOC, weight=w, address_text=f"10.0.0.{i + 1}:80")
        for i, w in enumerate(weights)
    )
    return Pool("app", "backend", LOC, Balance(algorithm, LOC, **balance), servers)  # type: ignore[arg-type]


def same(n: int) -> Trace:
    return Trace([Request("127.0.0.1")] * n)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=2, max_size=6))
def test_round_robin_shares_equal_weights_over_a_cycle(weights: list[int]) -> None:
    for dialect, algo in (
        (Dialect.HAPROXY, "roundrobin"),
        (Dialect.HAPROXY, "static-rr"),
        (Dialect.NGINX, "round_robin"),
    ):
        p = pool(weights, algo)
        cycle = sum(weights)
        picks = simulate(p, dialect, same(cycle * 3)).picks
        # HAProxy's FWRR needs one cycle to settle its positions; after that every
        # cycle of sum(weights) picks gives each server exactly its weight.
        window = picks[cycle : 2 * cycle]
        counts = [int((window == i).sum()) for i in range(len(weights))]
        assert counts == weights, (dialect, algo)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=2, max_size=5), st.integers(0, 1000))
def test_shares_sum_to_one(weights: list[int], seed: int) -> None:
    trace = TrafficModel(requests=500, seed=seed).generate()
    for dialect, algo, key in (
        (Dialect.HAPROXY, "source", "src"),
        (Dialect.HAPROXY, "uri", "uri"),
        (Dialect.NGINX, "ip_hash", "$remote_addr"),
        (Dialect.NGINX, "hash", "$request_uri"),
    ):
        result = simulate(pool(weights, algo, key=key), dialect, trace)
        assert abs(sum(result.shares().values()) - 1.0) < 1e-9


def test_consistent_hashing_remaps_about_one_in_n() -> None:
    trace = Trace([Request("127.0.0.1", f"/object/{i}") for i in range(4000)])  # 4,000 keys
    for dialect, algo, spec in (
        (Dialect.HAPROXY, "uri", {"key": "uri", "hash_type": "consistent"}),
        (Dialect.NGINX, "hash", {"key": "$request_uri", "hash_type": "consistent"}),
    ):
        before = pool([1] * 4, algo, **spec)
        after = pool([1] * 5, algo, **spec)
        if dialect is Dialect.HAPROXY:
            # hash-type consistent is read from the directive, as the parser keeps it.
            from lbguard.model import Directive

            d = (Directive("hash-type", ("consistent",), LOC),)
            before = Pool(
                before.name, before.kind, LOC, before.balance, before.servers, directives=d
            )
            after = Pool(after.name, after.kind, LOC, after.balance, after.servers, directives=d)
        old = simulate(before, dialect, trace).picks
        new = simulate(after, dialect, trace).picks
        moved = float((old != new).mean())
        assert 0.10 < moved < 0.32, (dialect, moved)  # ideal: 1/5 = 0.2
        # Nothing moves between the four old servers: only to the new one.
        assert ((old != new) <= (new == 4)).all()


def test_backup_only_when_no_active() -> None:
    servers = (
        Server("a", "10.0.0.1", 80, LOC),
        Server("b", "10.0.0.2", 80, LOC, backup=True),
    )
    p = Pool("app", "backend", LOC, Balance("roundrobin"), servers)
    assert simulate(p, Dialect.HAPROXY, same(10)).shares() == {"a": 1.0, "b": 0.0}
    down = (Server("a", "10.0.0.1", 80, LOC, disabled=True), servers[1])
    p2 = Pool("app", "backend", LOC, Balance("roundrobin"), down)
    assert simulate(p2, Dialect.HAPROXY, same(10)).shares() == {"a": 0.0, "b": 1.0}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lbguard", *args], capture_output=True, text=True, timeout=120
    )


def test_simulate_incident_prints_web01_100_percent() -> None:
    proc = run("simulate", str(EXAMPLES / "incident" / "haproxy.cfg"))
    assert proc.returncode == 1
    assert "web-01: 100%" in proc.stdout


def test_simulate_json_contract() -> None:
    proc = run(
        "simulate",
        "--format",
        "json",
        "--requests",
        "3000",
        str(EXAMPLES / "incident" / "haproxy.fixed.cfg"),
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["version"] == 1 and doc["traffic"]["requests"] == 3000
    (p,) = doc["pools"]
    assert set(p) >= {"name", "balancer", "algorithm", "servers", "max_share", "gini", "findings"}
    assert {s["state"] for s in p["servers"]} == {"active"}
    assert abs(sum(s["predicted_share"] for s in p["servers"]) - 1) < 1e-5  # 6-digit rounding
    assert all(
        set(s) == {"name", "address", "weight", "state", "expected_share", "predicted_share"}
        for s in p["servers"]
    )


def test_diff_reports_moved_shares_and_remapped_keys(tmp_path: Path) -> None:
    old = tmp_path / "old.cfg"
    new = tmp_path / "new.cfg"
    base = "backend app\n    balance uri\n    hash-type consistent\n"
    old.write_text(base + "".join(f"    server s{i} 10.0.0.{i}:80\n" for i in range(1, 5)))
    new.write_text(base + "".join(f"    server s{i} 10.0.0.{i}:80\n" for i in range(1, 6)))
    proc = run("diff", "--format", "json", "--requests", "4000", str(old), str(new))
    doc = json.loads(proc.stdout)
    (p,) = doc["pools"]
    assert 0.1 < p["keys_remapped"] < 0.35
    s5 = next(s for s in p["servers"] if s["name"] == "s5")
    assert s5["share_before"] == 0 and s5["share_after"] > 0.1


def test_columnar_fast_path_equals_request_by_request() -> None:
    """The gathered answer must be exactly what per-request picking gives."""
    from lbguard.model import Directive

    columnar = TrafficModel(
        requests=3000, clients=300, uris=200, header_cardinality=50, seed=11
    ).generate()
    explicit = Trace(list(columnar.requests))
    cases = [
        (Dialect.HAPROXY, pool([1, 2, 3], "source", key="src")),
        (Dialect.HAPROXY, pool([1, 2, 3], "uri", key="uri")),
        (Dialect.HAPROXY, pool([2, 1, 1], "url_param", key="url_param(user)", args=("user",))),
        (Dialect.HAPROXY, pool([1, 1, 1], "hdr", key="hdr(x-user)")),
        (Dialect.NGINX, pool([1, 2, 3], "ip_hash", key="$remote_addr")),
        (Dialect.NGINX, pool([1, 2, 3], "hash", key="$request_uri")),
        (Dialect.NGINX, pool([1, 2, 3], "hash", key="$uri", hash_type="consistent")),
        (Dialect.NGINX, pool([3, 1], "hash", key="$arg_user")),
    ]
    d = (Directive("hash-type", ("consistent",), LOC),)
    p = pool([1, 2, 3], "uri", key="uri")
    cases.append((Dialect.HAPROXY, Pool(p.name, p.kind, LOC, p.balance, p.servers, directives=d)))
    for dialect, p in cases:
        fast = simulate(p, dialect, columnar).picks
        slow = simulate(p, dialect, explicit).picks
        assert (fast == slow).all(), (dialect, p.balance)


def test_connection_algorithms_under_a_stated_load() -> None:
    from lbguard.simulate.queueing import Load

    trace = same(20_000)
    load = Load(rate=2000, duration=0.02, seed=3)
    leastconn = simulate(pool([3, 1, 1], "leastconn"), Dialect.HAPROXY, trace, load=load)
    shares = list(leastconn.shares().values())
    assert abs(shares[0] - 0.6) < 0.03 and abs(shares[1] - 0.2) < 0.03
    # Without overlap HAProxy's leastconn rotates and ignores weights.
    seq = simulate(pool([3, 1, 1], "leastconn"), Dialect.HAPROXY, same(300))
    assert [round(v, 2) for v in seq.shares().values()] == [0.33, 0.33, 0.33]
    nginx = simulate(pool([3, 1, 1], "least_conn"), Dialect.NGINX, trace, load=load)
    assert abs(nginx.shares()["s1"] - 0.6) < 0.03
    servers = tuple(
        Server(f"w{i}", f"10.0.0.{i}", 80, LOC, maxconn=10, address_text=f"10.0.0.{i}:80")
        for i in range(1, 4)
    )
    first = Pool("workers", "backend", LOC, Balance("first", LOC), servers)
    filled = simulate(first, Dialect.HAPROXY, trace, load=load).shares()
    assert filled["w1"] > filled["w2"] > filled["w3"]


def test_simulate_replays_an_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [
        f'203.0.113.{i % 7} - - [24/Nov/2026:10:00:00 +0000] "GET /p/{i % 50} HTTP/1.1" '
        '200 5 "-" "ua"'
        for i in range(400)
    ]
    log.write_text("\n".join(lines) + "\n")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "backend app\n    balance source\n"
        + "".join(f"    server s{i} 10.0.0.{i}:80\n" for i in range(1, 5))
    )
    proc = run("simulate", "--format", "json", "--traffic", str(log), str(cfg))
    doc = json.loads(proc.stdout)
    assert doc["traffic"]["kind"] == "log" and doc["traffic"]["requests"] == 400
    assert doc["traffic"]["clients"] == 7
    # Seven clients can reach at most seven of the servers' slots; shares still sum to 1.
    shares = [s["predicted_share"] for s in doc["pools"][0]["servers"]]
    assert abs(sum(shares) - 1) < 1e-5
    bad = run("simulate", "--traffic", str(tmp_path / "missing.log"), str(cfg))
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_hash_balance_factor_bounds_load_only_under_load(tmp_path: Path) -> None:
    from lbguard.parsers.haproxy import parse_haproxy
    from lbguard.simulate.queueing import Load

    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "backend app\n    balance hdr(host)\n    hash-type consistent\n"
        "    hash-balance-factor 125\n"
        + "".join(f"    server s{i} 10.0.0.{i}:80\n" for i in range(1, 4))
    )
    p = parse_haproxy([str(cfg)]).config.pools[0]
    trace = TrafficModel(requests=4000, seed=2).generate()  # one Host for everyone
    idle = simulate(p, Dialect.HAPROXY, trace)
    assert max(idle.shares().values()) == 1.0
    assert any("no effect" in note for note in idle.notes)
    busy = simulate(p, Dialect.HAPROXY, trace, load=Load(rate=1000, duration=0.03, seed=2))
    assert max(busy.shares().values()) < 0.6  # at most 125% of a fair share in flight


def _scanned_uri(uri: str, whole: bool, length: int | None, depth: int | None) -> bytes:
    """HAProxy's get_server_uh scan, byte by byte, as algorithms.md describes it."""
    data = uri.encode()
    n = len(data) if length is None else min(len(data), length)
    out = bytearray()
    slashes = 0
    for c in data[:n]:
        if c == ord("/"):
            slashes += 1
            if depth is not None and slashes == depth + 1:
                break
        elif c == ord("?") and not whole:
            break
        out.append(c)
    return bytes(out)


@settings(max_examples=500, deadline=None)
@given(
    uri=st.text(alphabet="/?a=&é", max_size=20),
    whole=st.booleans(),
    length=st.none() | st.integers(1, 12),
    depth=st.none() | st.integers(1, 4),
)
def test_uri_key_is_haproxys_scan(
    uri: str, whole: bool, length: int | None, depth: int | None
) -> None:
    from lbguard.simulate.haproxy_model import _uri_key

    args: tuple[str, ...] = ("whole",) if whole else ()
    if length is not None:
        args += ("len", str(length))
    if depth is not None:
        args += ("depth", str(depth))
    assert _uri_key(uri, args) == _scanned_uri(uri, whole, length, depth)
