"""Sanity checks of the HAProxy 2.6 keyword tables, plus a sample run of the real binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import require_haproxy
from lbguard.parsers import haproxy_keywords as kw


def test_sections_present() -> None:
    expected = {
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "resolvers",
        "peers",
        "userlist",
        "program",
        "http-errors",
        "ring",
        "cache",
        "mailers",
    }
    assert expected <= set(kw.SECTION_KEYWORDS)
    assert expected <= kw.SECTION_HEADERS


def test_proxy_placement() -> None:
    sk = kw.SECTION_KEYWORDS
    assert "server" in sk["backend"] and "server" not in sk["frontend"]
    assert "bind" in sk["frontend"] and "bind" not in sk["backend"]
    assert "server" in sk["listen"] and "bind" in sk["listen"]
    assert "use_backend" in sk["frontend"] and "default_backend" in sk["defaults"]
    assert "stick-table" not in sk["defaults"]
    assert sk["listen"] == kw.PROXY_KEYWORDS
    assert kw.classify_proxy_keyword("frontend", "server") == "error"
    assert kw.classify_proxy_keyword("frontend", "balance") == "warning"
    assert kw.classify_proxy_keyword("backend", "bind") == "warning"
    assert kw.classify_proxy_keyword("backend", "balance") == "ok"
    assert kw.classify_proxy_keyword("backend", "contimeout") == "removed"
    assert kw.classify_proxy_keyword("backend", "frobnicate") == "unknown"


def test_tables_are_consistent() -> None:
    for section in kw.PROXY_SECTIONS:
        assert kw.MISPLACED_IS_ERROR[section].isdisjoint(kw.SECTION_KEYWORDS[section])
        assert kw.PROXY_OPTIONS[section] <= kw.OPTIONS
        assert kw.TIMEOUTS[section] <= kw.PROXY_TIMEOUT_NAMES
    assert kw.NEGATABLE_OPTIONS <= kw.OPTIONS
    assert set(kw.OPTION_ARGS) <= kw.OPTIONS
    assert kw.PROXY_KEYWORDS.isdisjoint(kw.REMOVED_KEYWORDS)
    assert kw.GLOBAL_KEYWORDS.isdisjoint(kw.REMOVED_GLOBAL_KEYWORDS)
    assert kw.GLOBAL_KEYWORDS.isdisjoint(kw.BUILD_DEPENDENT_GLOBAL_KEYWORDS)
    assert kw.OPTIONS.isdisjoint(kw.REMOVED_OPTIONS)
    assert kw.NOT_FOR_DEFAULT_SERVER.issubset(kw.SERVER_OPTIONS)
    assert kw.NOT_FOR_DYNAMIC_SERVER.issubset(kw.SERVER_OPTIONS)
    assert set(kw.CRT_LIST_OPTIONS) <= set(kw.BIND_OPTIONS)
    for name, words in (("global", kw.GLOBAL_KEYWORDS), ("proxy", kw.PROXY_KEYWORDS)):
        assert all(w == w.strip() and w for w in words), name


def test_options_and_timeouts() -> None:
    assert "httpchk" in kw.PROXY_OPTIONS["backend"]
    assert "httpchk" not in kw.PROXY_OPTIONS["frontend"]
    assert "forwardfor" in kw.PROXY_OPTIONS["frontend"]
    assert "redispatch" in kw.NEGATABLE_OPTIONS
    assert "httplog" not in kw.NEGATABLE_OPTIONS
    assert "client" in kw.TIMEOUTS["frontend"] and "client" not in kw.TIMEOUTS["backend"]
    assert "server" in kw.TIMEOUTS["backend"] and "connect" in kw.TIMEOUTS["defaults"]
    assert "option" in kw.NEGATABLE_KEYWORDS and "timeout" not in kw.NEGATABLE_KEYWORDS


def test_removed_keywords() -> None:
    for word in ("contimeout", "clitimeout", "srvtimeout", "redispatch", "reqadd", "reqrep"):
        assert word in kw.REMOVED_KEYWORDS
    for word in ("rspadd", "block", "monitor-net"):
        assert word in kw.REMOVED_KEYWORDS
    assert "timeout connect" in kw.REMOVED_KEYWORDS["contimeout"]
    assert "nbproc" in kw.REMOVED_GLOBAL_KEYWORDS
    assert "forceclose" in kw.REMOVED_OPTIONS
    assert "grace" in kw.REMOVED_KEYWORDS and "grace" in kw.GLOBAL_KEYWORDS


def test_balance_and_hash() -> None:
    algos = kw.BALANCE_ALGORITHMS
    assert {"roundrobin", "static-rr", "leastconn", "first", "source", "random"} <= set(algos)
    assert {"uri", "url_param", "hdr", "rdp-cookie", "hash"} <= set(algos)
    assert algos["hdr"].paren == "required"
    assert algos["url_param"].positional == 1
    assert algos["uri"].modifiers["len"] == 1 and algos["uri"].modifiers["whole"] == 0
    assert algos["hash"].extra_words == "error"
    assert sorted(kw.HASH_TYPES) == ["consistent", "map-based"]
    assert "none" not in kw.HASH_FUNCTIONS and "sdbm" in kw.HASH_FUNCTIONS


def test_server_and_bind_options() -> None:
    so = kw.SERVER_OPTIONS
    assert so["check"] == 0 and so["weight"] == 1 and so["source"] == -1
    assert {"no-check", "no-backup", "no-ssl"} <= set(so)
    assert "no-weight" not in so
    assert "id" in kw.NOT_FOR_DEFAULT_SERVER
    bo = kw.BIND_OPTIONS
    assert bo["crt"] == 1 and bo["alpn"] == 1 and bo["accept-proxy"] == 0 and bo["ssl"] == 0


def test_rule_actions() -> None:
    assert kw.is_rule_action("http-request", "deny")
    assert kw.is_rule_action("http-request", "set-var(txn.a)")
    assert kw.is_rule_action("tcp-request connection", "track-sc0")
    assert kw.is_rule_action("tcp-request connection", "expect-proxy")
    assert not kw.is_rule_action("tcp-request session", "expect-proxy")
    assert not kw.is_rule_action("http-after-response", "deny")
    assert not kw.is_rule_action("http-request", "frobnicate")


# (section type, line) samples, each expected not to be an "unknown" keyword/option.
_NATIVE_SAMPLES: list[tuple[str, str]] = [
    ("global", "maxconn 100"),
    ("global", "nbthread 1"),
    ("global", "tune.bufsize 16384"),
    ("global", "tune.ssl.default-dh-param 2048"),
    ("global", "ssl-default-bind-options no-sslv3"),
    ("global", "hard-stop-after 10s"),
    ("global", "log 127.0.0.1:514 local0"),
    ("global", "stats timeout 30s"),
    ("global", "tune.h2.max-concurrent-streams 100"),
    ("global", "spread-checks 5"),
    ("defaults", "option httplog"),
    ("defaults", "timeout http-request 5s"),
    ("defaults", "retries 3"),
    ("defaults", "option redispatch"),
    ("defaults", "default-server inter 3s"),
    ("frontend", "bind 127.0.0.1:18080 accept-proxy"),
    ("frontend", "option forwardfor except 127.0.0.0/8 if-none"),
    ("frontend", "http-request deny if { src 10.0.0.1 }"),
    ("frontend", "tcp-request connection accept"),
    ("frontend", "timeout client-fin 1s"),
    ("frontend", "capture request header Host len 32"),
    ("frontend", "rate-limit sessions 10"),
    ("frontend", "monitor-uri /health"),
    ("frontend", "default_backend bk"),
    ("backend", "balance uri len 10 depth 2"),
    ("backend", "balance hdr(host) use_domain_only"),
    ("backend", "balance url_param id check_post"),
    ("backend", "balance random(3)"),
    ("backend", "balance hash req.hdr(host)"),
    ("backend", "hash-type consistent djb2 avalanche"),
    ("backend", "option httpchk GET /health"),
    ("backend", "http-check expect status 200"),
    ("backend", "server s2 127.0.0.1:81 check inter 2s fall 3 rise 2 weight 10 backup"),
    ("backend", "server s3 127.0.0.1:82 no-check maxconn 10 slowstart 10s on-error fastinter"),
    ("backend", "server-template t 2 127.0.0.1:83 check"),
    ("backend", "stick-table type ip size 1k"),
    ("backend", "http-reuse safe"),
    ("backend", "timeout queue 5s"),
    ("listen", "stats uri /stats"),
    ("listen", "no option http-buffer-request"),
    ("listen", "cookie SRV insert indirect nocache"),
]


@pytest.mark.native
def test_native_sample_accepted(tmp_path: Path) -> None:
    haproxy = require_haproxy()
    lines = ["global"]
    by_line: dict[int, str] = {}
    for section in ("global", "defaults", "frontend", "backend", "listen"):
        if section != "global":
            name = {"defaults": "defaults d", "frontend": "frontend fe", "listen": "listen li"}
            lines.append(name.get(section, "backend bk"))
            lines.append("  mode http")
        for sec, sample in _NATIVE_SAMPLES:
            if sec == section:
                lines.append(f"  {sample}")
                by_line[len(lines)] = f"{sec}: {sample}"
                words = sample.split()
                if words[0] == "no":
                    assert words[1] in kw.NEGATABLE_KEYWORDS
                    assert words[2] in kw.NEGATABLE_OPTIONS
                    words = words[1:]
                if sec == "global":
                    assert words[0] in kw.GLOBAL_KEYWORDS
                else:
                    assert kw.classify_proxy_keyword(sec, words[0]) == "ok", sample
                if words[0] == "option":
                    assert words[1] in kw.PROXY_OPTIONS[sec]
                if words[0] == "timeout":
                    assert words[1] in kw.TIMEOUTS[sec]
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [haproxy, "-c", "-dr", "-f", str(cfg)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = proc.stdout + proc.stderr
    for lineno, sample in by_line.items():
        for line in output.splitlines():
            if f"{cfg}:{lineno}]" in line:
                assert "unknown" not in line, f"{sample!r} rejected: {line}"
                assert "ALERT" not in line, f"{sample!r} rejected: {line}"
    assert proc.returncode in (0, 2), output  # 2: valid but no listener / warnings


@pytest.mark.native
def test_native_rejects_unknown(tmp_path: Path) -> None:
    haproxy = require_haproxy()
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(
        "global\n  frobnicate 1\nbackend bk\n  balanse roundrobin\n  contimeout 5s\n"
        "  option httplogg\n  server s1 127.0.0.1:80 weigth 3\n"
    )
    proc = subprocess.run(
        [haproxy, "-c", "-dr", "-f", str(cfg)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "unknown keyword 'frobnicate' in 'global' section" in output
    assert "unknown keyword 'balanse'" in output and "did you mean 'balance'" in output
    assert "Use 'timeout connect'" in output
    assert "unknown option 'httplogg'" in output
    assert "unknown keyword 'weigth'" in output
    assert "frobnicate" not in kw.GLOBAL_KEYWORDS and "balanse" not in kw.PROXY_KEYWORDS
    assert "weigth" not in kw.SERVER_OPTIONS and "httplogg" not in kw.OPTIONS
