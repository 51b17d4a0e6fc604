"""The fleet path (columns, arrays, exact code for suspect pools only) against the per-server one.

Random fleets of HAProxy pools go through two engines fed the same `show stat` texts:
one judges in arrays (`lbguard.watch.fleet`), the other server by server
(`vectorised=False`, the code before the arrays). Alerts, their summaries and numbers,
the per-pool views behind the table, the JSON and /metrics, and the detectors' state
must be identical, float for float.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import parse_stat_csv, parse_stat_rows
from lbguard.watch.columns import ColumnPools, read_columns
from lbguard.watch.detect import Thresholds
from lbguard.watch.engine import Engine
from lbguard.watch.render import as_json
from watch_e2e import Load, running_haproxy

# Not HAProxy's order, and with a column it does not have: the reader goes by name.
HEADER = [
    "pxname",
    "svname",
    "status",
    "qcur",
    "scur",
    "slim",
    "stot",
    "weight",
    "act",
    "bck",
    "chkfail",
    "lastchg",
    "throttle",
    "lbtot",
    "type",
    "rate",
    "check_status",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_5xx",
    "hrsp_other",
    "qtime",
    "rtime",
    "ttime",
    "algo",
    "uweight",
    "future_col",
    "",
]
ALGORITHMS = ["roundrobin", "static-rr", "leastconn", "source", "first", "random", ""]
STATUSES = ["UP"] * 12 + ["UP 1/3", "DOWN", "DRAIN", "NOLB", "MAINT", "no check"]
SENSITIVE = Thresholds(
    min_volume=10,
    cusum_h=3.0,
    chi_alpha=0.05,
    queue_polls=1,
    rtime_warmup=2,
    starvation_expected=2.0,
    concurrency_min=2,
    min_responses=2,
    outlier_min_hosts=3,
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Fleet:
    """Random pools whose counters move each poll: balanced, skewed, starved or broken."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.pools: list[dict[str, object]] = []
        for p in range(int(rng.integers(1, 5))):
            servers = []
            for s in range(int(rng.integers(0 if p == 3 else 1, 6))):
                servers.append(self._server(f"s{s}"))
            self.pools.append(
                {"name": f"be{p}", "algo": str(rng.choice(ALGORITHMS)), "servers": servers}
            )

    def _server(self, name: str) -> dict[str, object]:
        rng = self.rng
        weight = int(rng.choice([0, 1, 1, 1, 2, 3]))
        return {
            "name": name,
            "status": "UP",
            "weight": weight,
            "uweight": weight if rng.random() < 0.8 else None,
            "backup": rng.random() < 0.15,
            "lbtot": int(rng.integers(0, 1000)),
            "resp": 0,
            "e5": 0,
            "scur": 0,
            "slim": int(rng.choice([0, 10, 100])),
            "qcur": 0,
            "rtime": None if rng.random() < 0.2 else 10,
            "throttle": None,
        }

    def step(self) -> None:
        rng = self.rng
        for pool in self.pools:
            servers = pool["servers"]
            assert isinstance(servers, list)
            if servers and rng.random() < 0.05:
                servers.append(self._server(f"n{int(rng.integers(0, 10**6))}"))
            shape = rng.choice(["even", "even", "skew", "one", "starve"])
            volume = int(rng.choice([0, 5, 40, 150, 400]))
            k = len(servers)
            if not k:
                continue
            p = np.ones(k) / k
            if shape == "skew":
                p[0] *= 3
            elif shape == "one":
                p = np.eye(k)[0]
            elif shape == "starve" and k > 1:
                p[-1] = 0
            counts = rng.multinomial(volume, p / p.sum())
            for s, n in zip(servers, counts, strict=True):
                if rng.random() < 0.03:
                    s["lbtot"] = s["resp"] = s["e5"] = 0  # counters reset (reload)
                s["lbtot"] += int(n)
                s["resp"] += int(n)
                if rng.random() < 0.1:
                    s["e5"] += int(rng.integers(0, n + 1))
                s["scur"] = int(rng.integers(0, 12))
                s["qcur"] = int(rng.integers(1, 4)) if rng.random() < 0.1 else 0
                if s["rtime"] is not None:
                    s["rtime"] = int(rng.choice([8, 10, 12, 11, 500]))
                if rng.random() < 0.05:
                    s["status"] = str(rng.choice(STATUSES))
                if rng.random() < 0.03:
                    s["uweight"] = int(rng.integers(0, 4))
                if rng.random() < 0.03:
                    s["throttle"] = int(rng.integers(0, 101)) if s["throttle"] is None else None

    def text(self) -> str:
        col = {name: i for i, name in enumerate(HEADER)}
        rows = ["# " + ",".join(HEADER)]
        for pool in self.pools:
            servers = pool["servers"]
            assert isinstance(servers, list)
            for s in servers:
                row = [""] * len(HEADER)
                cells = {
                    "pxname": pool["name"],
                    "svname": s["name"],
                    "status": s["status"],
                    "qcur": s["qcur"],
                    "scur": s["scur"],
                    "slim": s["slim"] or "",
                    "stot": s["lbtot"],
                    "weight": 0 if s["status"] == "DRAIN" else s["weight"],
                    "act": 0 if s["backup"] else 1,
                    "bck": 1 if s["backup"] else 0,
                    "chkfail": 0,
                    "lastchg": 5,
                    "throttle": "" if s["throttle"] is None else s["throttle"],
                    "lbtot": s["lbtot"],
                    "type": 2,
                    "rate": 1,
                    "check_status": "L7OK",
                    "hrsp_2xx": s["resp"] - s["e5"],  # type: ignore[operator]
                    "hrsp_5xx": s["e5"],
                    "rtime": "" if s["rtime"] is None else s["rtime"],
                    "uweight": "" if s["uweight"] is None else s["uweight"],
                }
                for key, value in cells.items():
                    row[col[key]] = str(value)
                rows.append(",".join(row))
            row = [""] * len(HEADER)
            backend = {"pxname": pool["name"], "svname": "BACKEND", "status": "UP", "type": "1"}
            backend["algo"] = str(pool["algo"])
            for key, value in backend.items():
                row[col[key]] = value
            rows.append(",".join(row))
        return "\n".join(rows) + "\n\n"

    def config(self) -> str:
        """A config for these pools, with weights and backups off here and there (drift)."""
        lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s"]
        lines.append("    timeout server 1s")
        for pool in self.pools:
            algo = pool["algo"] or "roundrobin"
            lines += [f"backend {pool['name']}", f"    balance {algo}"]
            servers = pool["servers"]
            assert isinstance(servers, list)
            for i, s in enumerate(servers):
                weight = s["weight"] if self.rng.random() < 0.8 else int(self.rng.integers(0, 4))
                extra = " backup" if s["backup"] else ""
                extra += " disabled" if self.rng.random() < 0.1 else ""
                lines.append(f"    server {s['name']} 127.0.0.1:{8000 + i} weight {weight}{extra}")
        return "\n".join(lines) + "\n"


def _views(engine: Engine) -> dict[str, object]:
    return {
        name: (
            v.expectation,
            v.observed,
            list(v.requests.items()),
            list(v.scores.items()),
        )
        for name, v in engine.views.items()
    }


def _run(seed: int, thresholds: Thresholds, with_config: bool) -> int:
    fleet = Fleet(seed)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(fleet.config())

        def engine(vectorised: bool) -> Engine:
            config = ConfigFile(str(cfg)) if with_config else None
            return Engine("lb", "test", config=config, thresholds=thresholds, vectorised=vectorised)

        fast, slow = engine(True), engine(False)
        in_arrays = 0
        for i in range(int(fleet.rng.integers(2, 25))):
            fleet.step()
            text = fleet.text()
            at = NOW + timedelta(seconds=i)
            fast_alerts = fast.observe(parse_stat_csv(text, at=float(i)), at)
            slow_alerts = slow.observe(parse_stat_rows(text, at=float(i)), at)
            in_arrays += fast.in_arrays
            assert not slow.in_arrays
            assert [a.as_dict() for a in fast_alerts] == [a.as_dict() for a in slow_alerts]
            assert _views(fast) == _views(slow)
            assert json.dumps(as_json([fast], fast_alerts)) == json.dumps(
                as_json([slow], slow_alerts)
            )
        assert fast.state == slow.state
        return in_arrays


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    thresholds=st.sampled_from([Thresholds(), SENSITIVE]),
    with_config=st.booleans(),
)
def test_fleet_path_matches_per_server_path(
    seed: int, thresholds: Thresholds, with_config: bool
) -> None:
    assert _run(seed, thresholds, with_config) > 0  # the arrays did judge


def test_columns_read_what_rows_read() -> None:
    fleet = Fleet(7)
    for _ in range(5):
        fleet.step()
    text = fleet.text()
    fast, slow = parse_stat_csv(text, at=1.0), parse_stat_rows(text, at=1.0)
    assert isinstance(fast.pools, ColumnPools)
    assert list(fast.pools) == list(slow.pools) and dict(fast.pools) == slow.pools


def test_what_columns_cannot_read_exactly_goes_to_the_row_reader() -> None:
    fleet = Fleet(3)
    fleet.step()
    text = fleet.text()
    assert read_columns(text) is not None
    quoted = text.replace("L7OK", '"L7OK"', 1)
    negative = text.replace(",5,", ",-5,", 1)
    ragged = text.replace("\n", ",extra\n", 2)
    for odd in (quoted, negative, ragged, text.replace("\n", "\r\n")):
        assert read_columns(odd) is None
        assert dict(parse_stat_csv(odd, at=1.0).pools) == parse_stat_rows(odd, at=1.0).pools


@pytest.mark.native
def test_real_haproxy_show_stat_is_read_in_columns_and_judged_alike(
    haproxy_bin: str, tmp_path: Path
) -> None:
    """What haproxy 2.6 really prints takes the column path, and both paths agree on it."""
    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=150, max_seconds=30):
        engines = {
            v: Engine("lb", "real", config=ConfigFile(str(box.cfg)), vectorised=v)
            for v in (True, False)
        }
        fired: dict[bool, list[dict[str, object]]] = {True: [], False: []}
        deadline = time.monotonic() + 20
        for i in range(12):
            if i == 6:
                box.command("set server app/web-02 state drain")
            text = box.command("show stat")
            assert read_columns(text) is not None, text[:200]
            at = NOW + timedelta(seconds=i)
            for vectorised, engine in engines.items():
                parse = parse_stat_csv if vectorised else parse_stat_rows
                alerts = engine.observe(parse(text, at=float(i)), at)
                fired[vectorised] += [a.as_dict() for a in alerts]
            assert engines[True].in_arrays and _views(engines[True]) == _views(engines[False])
            assert time.monotonic() < deadline, "12 polls took more than 20 s"
            time.sleep(0.25)
    assert fired[True] == fired[False]
    assert any(a["kind"] == "weight-drift" and a["server"] == "web-02" for a in fired[True])
