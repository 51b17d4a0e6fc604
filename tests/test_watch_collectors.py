"""Collectors without a balancer: CSV by header, Prometheus text, nginx log lines, tailing."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbguard.redact import redact_url
from lbguard.watch.collectors import CollectorError, from_spec
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import parse_stat_csv
from lbguard.watch.collectors.nginx_log import NginxLog, parse_line
from lbguard.watch.collectors.prometheus import parse_exposition
from lbguard.watch.snapshot import interval

# A real `show stat` from HAProxy 2.6 (trimmed to the columns that matter and a few more).
HEADER = (
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,act,bck,chkfail,lastchg,"
    "throttle,lbtot,type,rate,check_status,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
    "hrsp_other,qtime,ctime,rtime,ttime,algo,uweight"
)
ROWS = [
    "www,FRONTEND,,,1,1,9986,10,OPEN,,,,,,,,0,1,,0,10,0,0,0,0,,,,,,",
    "app,web-01,0,0,0,2,200,41,UP,1,1,0,0,12,,41,2,3,L7OK,0,41,0,0,0,0,0,0,2,3,,1",
    "app,web-02,2,5,7,9,200,40,UP,3,1,0,1,12,50,40,2,3,L7OK,0,38,0,0,2,0,1,0,9,12,,3",
    "app,web-03,0,0,0,1,200,0,DRAIN,0,0,1,0,5,,0,2,0,L7OK,0,0,0,0,0,0,0,0,0,0,,1",
    "app,BACKEND,0,0,7,9,400,81,UP,4,2,1,,12,,81,1,6,,0,79,0,0,2,0,0,0,5,7,roundrobin,",
]
SHOW_STAT = "# " + HEADER + "\n" + "\n".join(ROWS) + "\n\n"


def test_show_stat_fields_by_header() -> None:
    snap = parse_stat_csv(SHOW_STAT, at=1.0)
    assert list(snap.pools) == ["app"]
    app = snap.pools["app"]
    assert app.algorithm == "roundrobin" and app.status == "UP"
    w1, w2, w3 = app.servers
    assert (w1.name, w1.lbtot, w1.weight, w1.status, w1.backup) == ("web-01", 41, 1, "UP", False)
    assert (w2.qcur, w2.scur, w2.slim, w2.hrsp_5xx, w2.responses) == (2, 7, 200, 2, 40)
    assert w2.throttle == 50 and w2.rtime_ms == 9.0 and w2.chkfail == 1
    assert w3.backup and w3.drained and w3.status == "DRAIN"


@given(st.randoms(use_true_random=False))
@settings(max_examples=30)
def test_column_order_does_not_matter(rng: random.Random) -> None:
    names = HEADER.split(",")
    order = list(range(len(names)))
    rng.shuffle(order)
    rows = [r.split(",") for r in ROWS]
    text = "# " + ",".join(names[i] for i in order) + "\n"
    text += "\n".join(",".join(row[i] for i in order) for row in rows) + "\n"
    assert parse_stat_csv(text, at=1.0) == parse_stat_csv(SHOW_STAT, at=1.0)


def test_older_haproxy_without_uweight_and_algo_still_reads() -> None:
    names = HEADER.split(",")
    keep = [i for i, n in enumerate(names) if n not in ("uweight", "algo", "throttle")]
    text = "# " + ",".join(names[i] for i in keep) + "\n"
    text += "\n".join(",".join(r.split(",")[i] for i in keep) for r in ROWS) + "\n"
    app = parse_stat_csv(text).pools["app"]
    assert [s.lbtot for s in app.servers] == [41, 40, 0]
    assert app.servers[1].user_weight is None and app.servers[1].throttle is None


@pytest.mark.parametrize(
    "text",
    ["", "Unknown command\n", "<html>login</html>", "# pxname,status\nx,UP\n"],
)
def test_garbage_is_a_collector_error(text: str) -> None:
    with pytest.raises(CollectorError):
        parse_stat_csv(text)


def test_counter_reset_counts_from_zero() -> None:
    before = parse_stat_csv(SHOW_STAT, at=1.0)
    after = parse_stat_csv(SHOW_STAT.replace(",41,2,3,", ",5,2,3,"), at=2.0)
    counts = interval(before, after).pools["app"].counts()
    assert counts == {"web-01": 5, "web-02": 0, "web-03": 0}


EXPOSITION = """# HELP haproxy_server_status Current status of the service.
# TYPE haproxy_server_status gauge
haproxy_server_status{proxy="app",server="s1",state="DOWN"} 0
haproxy_server_status{proxy="app",server="s1",state="UP"} 1
haproxy_server_status{proxy="app",server="s2",state="UP"} 0
haproxy_server_status{proxy="app",server="s2",state="MAINT"} 1
# TYPE haproxy_server_weight gauge
haproxy_server_weight{proxy="app",server="s1"} 2
haproxy_server_weight{proxy="app",server="s2"} 1
# TYPE haproxy_server_loadbalanced_total counter
haproxy_server_loadbalanced_total{proxy="app",server="s1"} 120
haproxy_server_loadbalanced_total{proxy="app",server="s2"} 7
# TYPE haproxy_server_limit_sessions gauge
haproxy_server_limit_sessions{proxy="app",server="s1"} NaN
# TYPE haproxy_server_http_responses_total counter
haproxy_server_http_responses_total{proxy="app",server="s1",code="2xx"} 100
haproxy_server_http_responses_total{proxy="app",server="s1",code="5xx"} 20
# TYPE haproxy_server_response_time_average_seconds gauge
haproxy_server_response_time_average_seconds{proxy="app",server="s1"} 0.025
# TYPE haproxy_backend_status gauge
haproxy_backend_status{proxy="app",state="UP"} 1
"""


def test_prometheus_exposition() -> None:
    app = parse_exposition(EXPOSITION, at=1.0).pools["app"]
    s1, s2 = app.servers
    assert (s1.status, s1.weight, s1.lbtot, s1.hrsp_5xx, s1.responses) == ("UP", 2, 120, 20, 120)
    assert s1.slim is None and s1.rtime_ms == 25.0
    assert (s2.status, s2.lbtot) == ("MAINT", 7)
    assert app.status == "UP"
    with pytest.raises(CollectorError):
        parse_exposition("# just a comment\nother_metric 1\n")


COMBINED = '127.0.0.1 - - [30/Nov/2026:06:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (" 10.0.0.1:80 200 0.004", [("10.0.0.1:80", 200, 0.004)]),
        (
            " 10.0.0.1:80, 10.0.0.2:80 502, 200 0.001, 0.010",
            [("10.0.0.1:80", 502, 0.001), ("10.0.0.2:80", 200, 0.010)],
        ),
        (
            ' ua="10.0.0.1:80, 10.0.0.3:80 : 10.0.0.2:80" us="504, 502 : 200" ut="1.0, 1.0 : 0.2"',
            [("10.0.0.1:80", 504, 1.0), ("10.0.0.3:80", 502, 1.0), ("10.0.0.2:80", 200, 0.2)],
        ),
        (" [::1]:8080 - -", [("[::1]:8080", None, None)]),
        (" unix:/run/app.sock 200 0.001", [("unix:/run/app.sock", 200, 0.001)]),
    ],
)
def test_upstream_fields(rest: str, expected: list[tuple[str, int | None, float | None]]) -> None:
    attempts = parse_line(COMBINED + rest)
    assert attempts is not None
    assert [(a.address, a.status, a.seconds) for a in attempts] == expected


def test_lines_without_an_upstream() -> None:
    assert parse_line(COMBINED + " - - -") is None
    assert parse_line(COMBINED) is None
    assert parse_line("garbage") is None


def _nginx(tmp: Path, backup: str = "") -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(
        "events {}\nhttp {\n  upstream app {\n"
        "    server 10.0.0.1:80;\n    server 10.0.0.2:80;\n"
        f"    server 10.0.0.3:80{backup};\n  }}\n"
        "  server { listen 80; location / { proxy_pass http://app; } }\n}\n"
    )
    return conf


def _lines(*addresses: str) -> str:
    return "".join(f"{COMBINED} {a} 200 0.001\n" for a in addresses)


def test_tail_rotation_truncation_and_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(_lines("10.0.0.1:80") * 50)  # before watch started: not counted
    tail = NginxLog(str(log), ConfigFile(str(_nginx(tmp_path))))

    def picks() -> dict[str, int]:
        snap = asyncio.run(tail.collect())
        return {s.name: s.lbtot for s in snap.pools["app"].servers}

    assert picks() == {"10.0.0.1:80": 0, "10.0.0.2:80": 0, "10.0.0.3:80": 0}
    with log.open("a") as fh:
        fh.write(_lines("10.0.0.1:80", "10.0.0.2:80"))
        fh.write(f"{COMBINED} 10.0.0.3:80 200 0.0")  # half a line
    assert picks() == {"10.0.0.1:80": 1, "10.0.0.2:80": 1, "10.0.0.3:80": 0}
    with log.open("a") as fh:
        fh.write("01\n" + _lines("10.0.0.9:80"))  # the rest of it, and an unknown server
    assert picks()["10.0.0.3:80"] == 1 and tail.unmatched == 1
    # Rotation: the old file gets one more line, then the new file starts.
    os.rename(log, tmp_path / "access.log.1")
    with open(tmp_path / "access.log.1", "a") as fh:
        fh.write(_lines("10.0.0.2:80"))
    log.write_text(_lines("10.0.0.3:80", "10.0.0.3:80"))
    assert picks() == {"10.0.0.1:80": 1, "10.0.0.2:80": 2, "10.0.0.3:80": 3}
    # Truncation in place (copytruncate).
    with log.open("r+") as fh:
        fh.truncate(0)
    with log.open("a") as fh:
        fh.write(_lines("10.0.0.1:80"))
    assert picks() == {"10.0.0.1:80": 2, "10.0.0.2:80": 2, "10.0.0.3:80": 3}
    asyncio.run(tail.close())


def test_missing_log_is_a_collector_error(tmp_path: Path) -> None:
    tail = NginxLog(str(tmp_path / "nope.log"), ConfigFile(str(_nginx(tmp_path))))
    with pytest.raises(CollectorError, match="does not exist"):
        asyncio.run(tail.collect())


def test_config_file_follows_changes_and_keeps_the_last_good(tmp_path: Path) -> None:
    conf = _nginx(tmp_path)
    cf = ConfigFile(str(conf))
    config, changed = cf.current()
    assert not changed and not config.pools[0].servers[2].backup
    conf.write_text(conf.read_text().replace("10.0.0.3:80;", "10.0.0.3:80 backup;"))
    st = conf.stat()
    os.utime(conf, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    config, changed = cf.current()
    assert changed and config.pool("app").servers[2].backup  # type: ignore[union-attr]
    conf.write_text("http { upstream app { server ; } ")
    config, changed = cf.current()
    assert not changed and cf.error and config.pool("app") is not None


def test_stats_specs_and_redaction() -> None:
    assert from_spec("unix:/run/haproxy.sock").source == "unix:/run/haproxy.sock"
    web = from_spec("http://admin:s3cret@127.0.0.1:8404/stats")
    assert "s3cret" not in web.source and "********" in web.source
    asyncio.run(web.close())
    with pytest.raises(ValueError, match="unix:PATH"):
        from_spec("ftp://x")
    assert redact_url("http://u:p@h/x") == "http://u:********@h/x"
    assert redact_url("http://h/x") == "http://h/x"
