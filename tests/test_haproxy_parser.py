"""The HAProxy parser: model building, defaults resolution, and syntax errors with positions."""

from __future__ import annotations

from pathlib import Path

from lbguard.parsers.haproxy import parse_haproxy, split_address

BASE = """\
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
"""


def write(tmp_path: Path, text: str, name: str = "haproxy.cfg") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def errors(result: object) -> list[tuple[int, int, str]]:
    return [
        (f.location.line, f.location.column, f.message)
        for f in result.findings  # type: ignore[attr-defined]
        if f.code == "PARSE" and f.severity.label == "error"
    ]


def test_model_from_a_simple_config(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        BASE
        + """\
frontend www
    bind :80
    use_backend api if { path_beg /api }
    default_backend app
backend app
    balance leastconn
    hash-type consistent djb2 avalanche
    default-server check maxconn 100
    server web-01 10.0.0.1:80 weight 3
    server web-02 10.0.0.2:80 backup no-check
backend api
    server api-01 [2001:db8::1]:8080
""",
    )
    result = parse_haproxy([cfg])
    assert errors(result) == []
    config = result.config
    app = config.pool("app")
    assert app is not None
    assert app.balance.algorithm == "leastconn"
    assert (app.balance.hash_type, app.balance.hash_function, app.balance.avalanche) == (
        "consistent",
        "djb2",
        True,
    )
    web1, web2 = app.servers
    assert (web1.weight, web1.check, web1.maxconn, web1.backup) == (3, True, 100, False)
    assert (web2.backup, web2.check) == (True, False)
    assert web1.location.line == 14
    assert app.timeouts["connect"].inherited_from == "defaults"
    assert app.timeouts["connect"].location.line == 3
    assert [s.name for s in app.active_servers()] == ["web-01"]
    assert app.weight_shares() == {"web-01": 1.0, "web-02": 0.0}
    api = config.pool("api")
    assert api is not None and api.servers[0].address == "2001:db8::1"
    (fe,) = config.frontends
    assert [(r.pool, r.default) for r in fe.routes] == [("api", False), ("app", True)]


def test_named_defaults_and_from(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        """\
defaults base
    mode http
    timeout connect 1s
    option redispatch
defaults other
    timeout connect 9s
backend a from base
    server s 10.0.0.1:80
backend b
    server s 10.0.0.1:80
""",
    )
    config = parse_haproxy([cfg]).config
    a, b = config.pool("a"), config.pool("b")
    assert a is not None and b is not None
    assert a.timeouts["connect"].value == "1s"
    assert a.has_flag("redispatch")
    assert b.timeouts["connect"].value == "9s"
    assert b.timeouts["connect"].inherited_from == "defaults other"
    assert not b.has_flag("redispatch")


def test_no_option_cancels_defaults(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "defaults\n    option redispatch\nbackend a\n    no option redispatch\n"
        "    server s 10.0.0.1:80\n",
    )
    pool = parse_haproxy([cfg]).config.pool("a")
    assert pool is not None and not pool.has_flag("redispatch")


def test_directory_is_read_in_lexical_order(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "20-backend.cfg").write_text("backend app\n    server s 10.0.0.1:80\n")
    (d / "10-defaults.cfg").write_text("defaults\n    timeout connect 7s\n")
    (d / "README.txt").write_text("not a config\n")
    config = parse_haproxy([str(d)]).config
    assert [f.path.rsplit("/", 1)[-1] for f in config.files] == [
        "10-defaults.cfg",
        "20-backend.cfg",
    ]
    pool = config.pool("app")
    assert pool is not None and pool.timeouts["connect"].value == "7s"


def test_conditional_blocks(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        """\
backend app
.if defined(NOPE_NOT_SET)
    server never 10.0.0.9:80
.elif version_atleast(2.4)
    server modern 10.0.0.1:80
.else
    server old 10.0.0.2:80
.endif
.if feature(OPENSSL) && !streq(a,b)
    server tls 10.0.0.3:443
.endif
""",
    )
    pool = parse_haproxy([cfg], env={}).config.pool("app")
    assert pool is not None
    assert [s.name for s in pool.servers] == ["modern", "tls"]


def test_env_expansion_reaches_the_model(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'backend app\n    server web-02 "${WEB2_IP}:80"\n')
    result = parse_haproxy([cfg], env={})
    (server,) = result.config.pools[0].servers
    assert server.address is None and server.port == 80
    assert [name for name, _ in result.config.unresolved_env] == ["WEB2_IP"]
    with_env = parse_haproxy([cfg], env={"WEB2_IP": "10.0.0.2"})
    assert with_env.config.pools[0].servers[0].address == "10.0.0.2"


def test_every_error_in_one_run_with_positions(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        """\
backend app
    balance roundrobbin
    hash-type consistant
    server web-01 10.0.0.1:80 wieght 10
    server web-02 10.0.0.2:80 weight
    timout connect 5s
frontend www
    bind :80
    default_backend
    use_backend app iff { path_beg /x }
""",
    )
    errs = errors(parse_haproxy([cfg]))
    lines = [(line, col) for line, col, _ in errs]
    assert lines == [(2, 13), (3, 15), (4, 31), (5, 31), (6, 5), (9, 5), (10, 21)]
    messages = " | ".join(m for _, _, m in errs)
    assert "did you mean 'roundrobin'" in messages
    assert "did you mean 'consistent'" in messages
    assert "did you mean 'weight'" in messages
    assert "did you mean 'timeout'" in messages


def test_removed_keywords_and_options(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "defaults\n    contimeout 5000\n    option forceclose\n    redispatch\n",
    )
    errs = errors(parse_haproxy([cfg]))
    assert [line for line, _, _ in errs] == [2, 3, 4]
    assert "timeout connect" in errs[0][2]


def test_keyword_in_the_wrong_section(tmp_path: Path) -> None:
    cfg = write(tmp_path, "frontend f\n    bind :80\n    server s 10.0.0.1:80\n")
    errs = errors(parse_haproxy([cfg]))
    assert len(errs) == 1 and errs[0][0] == 3 and "not allowed in a 'frontend'" in errs[0][2]


def test_missing_final_newline(tmp_path: Path) -> None:
    cfg = write(tmp_path, "backend app\n    server s 10.0.0.1:80")
    errs = errors(parse_haproxy([cfg]))
    assert [line for line, _, _ in errs] == [2]
    assert "newline" in errs[0][2]


def test_statement_outside_a_section(tmp_path: Path) -> None:
    cfg = write(tmp_path, "apt -y install haproxy\nbackend app\n    server s 10.0.0.1:80\n")
    errs = errors(parse_haproxy([cfg]))
    assert [(line, col) for line, col, _ in errs] == [(1, 1)]


def test_duplicate_server_names(tmp_path: Path) -> None:
    cfg = write(tmp_path, "backend app\n    server a 10.0.0.1:80\n    server a 10.0.0.2:80\n")
    errs = errors(parse_haproxy([cfg]))
    assert [line for line, _, _ in errs] == [3]


def test_server_template_expands(tmp_path: Path) -> None:
    cfg = write(tmp_path, "backend app\n    server-template web 1-3 app.internal:80 check\n")
    pool = parse_haproxy([cfg]).config.pools[0]
    assert [s.name for s in pool.servers] == ["web1", "web2", "web3"]
    assert all(s.template_count == 3 and s.check for s in pool.servers)


def test_split_address() -> None:
    assert split_address("10.0.0.1:80") == ("10.0.0.1", 80, "80")
    assert split_address(":80") == (None, 80, "80")
    assert split_address("[::1]:8080") == ("::1", 8080, "8080")
    assert split_address("ipv6@2001:db8::1:443") == ("2001:db8::1", 443, "443")
    assert split_address("/run/app.sock") == ("/run/app.sock", None, "")
    assert split_address("web") == ("web", None, "")


def test_a_plain_line_of_more_than_64_words_is_refused(tmp_path: Path) -> None:
    """HAProxy 2.6 refuses a line of more than MAX_LINE_ARGS words, quoted or not."""
    words = " ".join(f"w{i}" for i in range(70))
    cfg = write(
        tmp_path,
        BASE + f"backend app\n    http-request set-header X {words}\n    server a 10.0.0.1:80\n",
    )
    found = errors(parse_haproxy([cfg]))
    assert [(line, message) for line, _col, message in found] == [
        (7, "too many words, truncating after word 64")
    ]
    # The column is that of the 65th word, where HAProxy stops reading.
    line = (tmp_path / "haproxy.cfg").read_text(encoding="utf-8").splitlines()[6]
    assert found[0][1] == line.index(" w61 ") + 2


def test_unicode_digits_are_not_numbers(tmp_path: Path) -> None:
    """'²' passes str.isdigit() but int() refuses it: each is a clear error, never a crash."""
    cfg = write(
        tmp_path,
        BASE
        + "backend app\n"
        + "    balance random(\u00b2)\n"
        + "    hash-balance-factor \u00b2\n"
        + "    server a 10.0.0.1:\u00b2\n"
        + "    server b 10.0.0.2:80 weight \u00b2 maxconn \u0663\n"
        + "    server-template c \u00b2 app.internal:80\n",
    )
    result = parse_haproxy([cfg])
    lines = sorted({line for line, _col, _message in errors(result)})
    assert lines == [7, 8, 9, 10, 11]
    a, b = result.config.pools[0].servers[:2]
    assert (a.address, a.port) == ("10.0.0.1", None)
    assert (b.weight, b.maxconn) == (1, None)
    assert split_address("10.0.0.1:\u00b2") == ("10.0.0.1", None, "\u00b2")


def test_conditions_with_unicode_digits_do_not_crash(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        ".if \u00b2\n.endif\n.if version_atleast(2.\u00b2)\n.endif\n" + BASE,
    )
    assert [line for line, _col, _message in errors(parse_haproxy([cfg]))] == [1]
