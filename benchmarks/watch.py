"""Benchmark: `lbguard watch`'s cycle cost, detection latency and false-alarm rate.

Prints:

1. the wall time of one poll-and-evaluate cycle (parse a `show stat` CSV, compute
   increments and expected shares, run every detector, update the alert book) on a
   synthetic HAProxy 2.6 `show stat` of 1,000 backends x 20 servers, with and without
   the config model (target < 100 ms), and during incidents: 5 % of the pools skewed,
   every pool skewed, every weight drifted from the file (pools in trouble are judged
   server by server, so these cost more);
2. detection latency for total concentration (target <= 2 poll intervals) and for a 2x
   skew on one of three servers at 100 req/s with 1 s polls (target <= 10 s), over
   many seeded trials;
3. false alarms over 10,000 balanced intervals with realistic noise: request volume
   wandering between 5 and 400 per interval, per-interval shares jittered around the
   weights (Dirichlet-multinomial, more dispersed than real round-robin), pools of 2,
   3, 5 (weighted 1..5) and 20 servers (target 0).

    python benchmarks/watch.py [--backends 1000] [--servers 20] [--intervals 10000]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lbguard.watch.collectors.haproxy_csv import parse_stat_csv
from lbguard.watch.detect import State, Thresholds, evaluate
from lbguard.watch.engine import Engine
from lbguard.watch.expected import expect
from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot, interval

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# The header of HAProxy 2.6's `show stat`, as the real binary prints it.
HEADER = """
pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,
wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,
throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,
check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,
req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,
lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,
agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,
agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,
intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,
qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,
need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status
""".replace("\n", "").split(",")


def show_stat(totals: np.ndarray, rng: np.random.Generator, skewed: int = 0) -> str:
    """A `show stat` with every column of HAProxy 2.6, after one more second of traffic.

    The first `skewed` backends send every request to their first server (an incident).
    """
    backends, servers = totals.shape
    for b in range(backends):
        p = [1.0] + [0.0] * (servers - 1) if b < skewed else [1 / servers] * servers
        totals[b] += rng.multinomial(50 * servers, p)
    col = {name: i for i, name in enumerate(HEADER)}
    rows = ["# " + ",".join(HEADER)]
    for b in range(backends):
        picks = totals[b]
        for s in range(servers):
            row = [""] * len(HEADER)
            n = int(picks[s])
            values = {
                "pxname": f"be{b}",
                "svname": f"srv{s}",
                "qcur": "0",
                "scur": str(int(rng.integers(0, 5))),
                "slim": "200",
                "stot": str(n),
                "status": "UP",
                "weight": "1",
                "act": "1",
                "bck": "0",
                "chkfail": "0",
                "lastchg": "100",
                "lbtot": str(n),
                "type": "2",
                "rate": "50",
                "check_status": "L7OK",
                "hrsp_2xx": str(n),
                "hrsp_5xx": "0",
                "qtime": "0",
                "rtime": str(int(rng.integers(5, 15))),
                "ttime": "20",
                "addr": f"10.{b // 250}.{b % 250}.{s}:8080",
                "mode": "http",
                "uweight": "1",
            }
            for key, value in values.items():
                row[col[key]] = value
            rows.append(",".join(row))
        row = [""] * len(HEADER)
        for key, value in {
            "pxname": f"be{b}",
            "svname": "BACKEND",
            "status": "UP",
            "type": "1",
            "algo": "roundrobin",
            "weight": str(servers),
        }.items():
            row[col[key]] = value
        rows.append(",".join(row))
    return "\n".join(rows) + "\n\n"


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def config_text(backends: int, servers: int, weight: int = 1) -> str:
    lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 5s"]
    lines.append("    timeout server 5s")
    for b in range(backends):
        lines += [f"backend be{b}", "    balance roundrobin"]
        lines += [
            f"    server srv{s} 10.{b // 250}.{b % 250}.{s}:8080 weight {weight}"
            for s in range(servers)
        ]
    return "\n".join(lines) + "\n"


def cycle_cost(backends: int, servers: int) -> None:
    rng = np.random.default_rng(1)
    totals = np.zeros((backends, servers), dtype=np.int64)
    texts = [show_stat(totals, rng) for _ in range(8)]
    skewed = backends // 20
    ongoing, everywhere = totals.copy(), totals.copy()
    incident = [show_stat(ongoing, rng, skewed if i else 0) for i in range(8)]
    worst = [show_stat(everywhere, rng, backends if i else 0) for i in range(8)]
    print(f"1. one poll+evaluate cycle, {backends} backends x {servers} servers")
    print(f"   show stat: {len(texts[0]) / 1e6:.1f} MB, {backends * (servers + 1)} rows")
    # The floor for any Python reader of the same text, measured in the same run
    # (the box is shared: compare ratios, not milliseconds).
    floor = min(_timed(lambda: sum(1 for _ in csv.reader(io.StringIO(texts[0])))) for _ in range(5))
    print(f"   csv.reader over the text (floor): {floor * 1000:.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(config_text(backends, servers))
        drifted = Path(tmp) / "drifted.cfg"  # the file says weight 2; the servers run 1
        drifted.write_text(config_text(backends, servers, weight=2))
        from lbguard.watch.collectors.configfile import ConfigFile

        runs = (
            ("stats only", None, texts),
            ("with --lb-config", ConfigFile(str(cfg)), texts),
            (f"{skewed} pools skewed", ConfigFile(str(cfg)), incident),
            ("every weight drifted", ConfigFile(str(drifted)), texts),
            ("every pool skewed", ConfigFile(str(cfg)), worst),
        )
        for label, config, polls in runs:
            engine = Engine("bench", "bench", config=config)
            engine.observe(parse_stat_csv(polls[0], at=0.0), NOW)
            times, parse_times = [], []
            for i, text in enumerate(polls[1:], start=1):
                started = time.perf_counter()
                snap = parse_stat_csv(text, at=float(i))
                parsed = time.perf_counter()
                alerts = engine.observe(snap, NOW)
                times.append(time.perf_counter() - started)
                parse_times.append(parsed - started)
                assert not alerts or label not in ("stats only", "with --lb-config"), alerts
            print(
                f"   {label:<17} best {min(times) * 1000:6.1f} ms, median "
                f"{statistics.median(times) * 1000:6.1f} ms (parse {min(parse_times) * 1000:.1f}"
                f" ms), {min(times) / floor:.1f}x the floor, {engine.exact_pools} pools judged "
                "per server   target < 100 ms"
            )


def _pool(name: str, counts: dict[str, int], weights: dict[str, int]) -> PoolSample:
    return PoolSample(
        name,
        tuple(
            ServerSample(s, "UP", weights[s], weights[s], lbtot=n, stot=n)
            for s, n in counts.items()
        ),
        algorithm="roundrobin",
    )


class Sim:
    """Feeds generated interval counts for one pool through the real evaluate()."""

    def __init__(self, weights: dict[str, int], t: Thresholds | None = None) -> None:
        self.weights = weights
        self.totals = dict.fromkeys(weights, 0)
        self.state = State()
        self.t = t or Thresholds()
        self.at = 0.0
        self.prev = Snapshot(0.0, {"p": _pool("p", self.totals, weights)})
        from lbguard.watch.alerts import AlertBook

        self.book = AlertBook("bench")

    def step(self, counts: dict[str, int]) -> list[str]:
        for k, v in counts.items():
            self.totals[k] += v
        self.at += 1.0
        sample = _pool("p", self.totals, self.weights)
        snap = Snapshot(self.at, {"p": sample})
        result = evaluate(
            self.state, interval(self.prev, snap), {"p": expect(sample)}, None, self.t
        )
        self.prev, self.state = snap, result.state
        return [a.kind for a in self.book.update(result.conditions, NOW) if a.state == "firing"]


def latency(trials: int) -> None:
    print("\n2. detection latency, 3 servers of weight 1, 100 req/s, 1 s polls")
    rng = np.random.default_rng(2)
    names = ["a", "b", "c"]
    for label, shares, kinds in (
        ("total concentration", [1.0, 0.0, 0.0], {"concentration"}),
        ("2x skew (66.7% vs 33.3%)", [2 / 3, 1 / 6, 1 / 6], {"share-deviation", "concentration"}),
    ):
        found = []
        for _ in range(trials):
            sim = Sim(dict.fromkeys(names, 1))
            for _ in range(30):
                sim.step(dict(zip(names, map(int, rng.multinomial(100, [1 / 3] * 3)), strict=True)))
            for second in range(1, 61):
                counts = dict(zip(names, map(int, rng.multinomial(100, shares)), strict=True))
                if kinds & set(sim.step(counts)):
                    found.append(second)
                    break
            else:
                found.append(61)
        target = "<= 2 intervals" if "total" in label else "<= 10 s"
        print(
            f"   {label:<27} median {statistics.median(found):.0f} s, max {max(found)} s over "
            f"{trials} trials   target {target}"
        )


def false_alarms(intervals: int) -> None:
    print(f"\n3. false alarms over {intervals:,} balanced intervals per pool, realistic noise")
    rng = np.random.default_rng(3)
    pools = {
        "2 equal": {f"s{i}": 1 for i in range(2)},
        "3 equal": {f"s{i}": 1 for i in range(3)},
        "5 weighted 1..5": {f"s{i}": i + 1 for i in range(5)},
        "20 equal": {f"s{i}": 1 for i in range(20)},
    }
    total_alarms = 0
    for label, weights in pools.items():
        sim = Sim(weights)
        names = list(weights)
        p = np.array([weights[n] for n in names], dtype=float)
        p /= p.sum()
        alarms: list[str] = []
        for i in range(intervals):
            # Volume wanders like a day's traffic: 5 to 400 requests per interval.
            volume = int(rng.poisson(5 + 395 * (0.5 + 0.5 * np.sin(i / 600.0)) ** 2))
            shares = rng.dirichlet(p * 2000)  # jitter around the weights (keep-alive, retries)
            counts = rng.multinomial(volume, shares)
            alarms += sim.step(dict(zip(names, map(int, counts), strict=True)))
        total_alarms += len(alarms)
        print(f"   {label:<16} {len(alarms)} alarms {sorted(set(alarms)) or ''}")
    print(f"   total {total_alarms}   target 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--intervals", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    cycle_cost(args.backends, args.servers)
    latency(args.trials)
    false_alarms(args.intervals)


if __name__ == "__main__":
    main()
