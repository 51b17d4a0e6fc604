"""The C twins of the HAProxy parser's hot loops give exactly what the Python twins give.

`lbguard/_speedups.c` takes the plain, common lines itself and hands every other one
to the Python code it mirrors. These tests parse the same text both ways, on the
shared corpus, the examples and generated configs, and require equal models,
findings and sources, in the same order.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, EXAMPLES, require_shared
from lbguard import speedups
from lbguard.model import Directive, Location, Server, python_constructor
from lbguard.parsers import haproxy
from lbguard.parsers.haproxy import ParseResult, parse_haproxy_texts
from lbguard.parsers.haproxy_lexer import plain_columns_py
from lbguard.sources import SourceText

ROOT = Path(__file__).resolve().parents[1]

native = speedups.native
needs_native = pytest.mark.skipif(
    native is None, reason=f"the C speedups are not loaded: {speedups.status()}"
)


def test_ci_runs_the_c_twins() -> None:
    """CI sets LBGUARD_REQUIRE_SPEEDUPS=1: a C build that silently failed must not pass."""
    if os.environ.get("LBGUARD_REQUIRE_SPEEDUPS") == "1":
        assert native is not None, speedups.status()
    assert speedups.status().startswith("C speedups" if native else "pure Python")


@contextmanager
def python_twins() -> Iterator[None]:
    """Parse with the Python twins (and Python constructors), whatever is installed."""
    names = ("lex_run", "check_pool", "build_pool")
    saved = {n: getattr(haproxy, n) for n in names}
    builders = {
        "_new_stmt": haproxy._Stmt,
        "_new_location": Location,
        "_new_server": Server,
        "_new_directive": Directive,
    }
    saved_builders = {n: getattr(haproxy, n) for n in builders}
    saved["plain_columns"] = haproxy.plain_columns
    saved["stmt_directive"] = haproxy.stmt_directive
    haproxy.plain_columns = plain_columns_py
    haproxy.stmt_directive = haproxy.stmt_directive_py
    haproxy.lex_run = haproxy.lex_run_py
    haproxy.check_pool = haproxy.check_pool_py
    haproxy.build_pool = haproxy.build_pool_py
    for name, cls in builders.items():
        setattr(haproxy, name, python_constructor(cls))
    try:
        yield
    finally:
        for name, fn in {**saved, **saved_builders}.items():
            setattr(haproxy, name, fn)


def source(text: str, path: str = "haproxy.cfg") -> SourceText:
    return SourceText(path, text, hashlib.sha256(text.encode()).hexdigest())


def both(texts: list[SourceText]) -> tuple[ParseResult, ParseResult]:
    fast = parse_haproxy_texts(texts, env={"SET": "1"})
    with python_twins():
        slow = parse_haproxy_texts(texts, env={"SET": "1"})
    return fast, slow


def assert_same(fast: ParseResult, slow: ParseResult) -> None:
    assert fast.findings == slow.findings
    assert fast.sources == slow.sources
    assert fast.config == slow.config
    # Equal is not enough for the model: every server field, option list included.
    for a, b in zip(fast.config.pools, slow.config.pools, strict=True):
        assert [repr(s) for s in a.servers] == [repr(s) for s in b.servers]


def generate_big(path: Path, backends: int, servers: int) -> None:
    """The benchmark's generated config (benchmarks/check_haproxy.py), smaller."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from check_haproxy import generate
    finally:
        sys.path.pop(0)
    generate(path, backends, servers)


# ------------------------------------------------------------------- Builder


@dataclass(frozen=True, slots=True)
class _Pair:
    left: object
    right: object


@dataclass
class _Plain:
    x: int


@needs_native
def test_builder_builds_what_the_class_builds() -> None:
    assert native is not None
    new = native.Builder(Location, ("path", "line", "column", "end_line", "end_column"))
    made = new("a.cfg", 3, 5, 3, 9)
    assert made == Location("a.cfg", 3, 5, 3, 9)
    assert type(made) is Location and hash(made) == hash(Location("a.cfg", 3, 5, 3, 9))
    with pytest.raises(AttributeError):
        made.line = 4  # type: ignore[misc]  # still frozen
    pair = native.Builder(_Pair, ("left", "right"))
    assert pair(1, [2]) == _Pair(1, [2]) and new.cls is Location


@needs_native
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("a.cfg", 3, 5, 3), {}), (("a.cfg", 3, 5, 3, 9, 1), {}), (("a.cfg", 3, 5, 3), {"x": 1})],
)
def test_builder_takes_every_field_and_only_positionally(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    assert native is not None
    new = native.Builder(Location, ("path", "line", "column", "end_line", "end_column"))
    with pytest.raises(TypeError, match="exactly 5 positional"):
        new(*args, **kwargs)


@needs_native
def test_builder_refuses_a_class_it_cannot_fill() -> None:
    assert native is not None
    with pytest.raises(TypeError, match="not a slotted class"):
        native.Builder(_Plain, ("x",))
    with pytest.raises(TypeError, match="no slot"):
        native.Builder(_Pair, ("left", "middle"))


@needs_native
@settings(max_examples=500, deadline=None)
@given(
    text=st.text(alphabet="ab \t\xa0", max_size=16),
    words=st.lists(st.text(alphabet="ab", max_size=3), max_size=5),
)
def test_plain_columns_finds_what_str_find_finds(text: str, words: list[str]) -> None:
    """Any words, found in the text or not, empty or not: the columns str.find gives."""
    assert native is not None
    assert native.plain_columns(text, tuple(words)) == plain_columns_py(text, tuple(words))


# --------------------------------------------------------------- the twins


def _corpus_texts() -> list[Path]:
    require_shared()
    return sorted((CORPUS / "haproxy").glob("*.cfg"))


@needs_native
def test_corpus_parses_the_same_both_ways() -> None:
    files = _corpus_texts()
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert_same(*both([source(text, str(path))]))


@needs_native
def test_examples_and_a_generated_config_parse_the_same_both_ways(tmp_path: Path) -> None:
    generate_big(tmp_path / "big.cfg", 40, 6)
    paths = [*EXAMPLES.rglob("*.cfg"), tmp_path / "big.cfg"]
    assert len(paths) >= 3
    for path in paths:
        assert_same(*both([source(path.read_text(encoding="utf-8"), str(path))]))


# Pieces of lines the C twins must either take exactly as the Python code does or
# hand back to it: odd blanks, addresses of every shape, options clean and not.
_INDENT = st.sampled_from(["", "    ", "\t", " \xa0 ", "\u2003", "\x1c"])
_NAME = st.sampled_from(["a", "b", "web-01", "a"])
_ADDRESS = st.sampled_from(
    [
        "10.0.0.1:80",
        "10.0.0.2:8080",
        "h:65535",
        "h:65536",
        "h:0080",
        "h:000080",
        "h:",
        "h:x",
        "h:\u00b2",
        "h:\u0663",
        "[::1]:80",
        "::1",
        "1:2:3",
        "unix@/run/s",
        "ipv4@10.0.0.1:80",
        "/run/sock",
        "host",
        ":80",
        "check",
        "10.0.0.1:80:",
    ]
)
_OPTION = st.sampled_from(
    [
        "check",
        "weight 3",
        "weight",
        "weight 300",
        "maxconn 10",
        "backup",
        "disabled",
        "bogus",
        "inter 2s",
        "inter x",
        "id 5",
        "no-check",
        "slowstart 10s",
        "agent-check agent-port 5555",
        "source 10.0.0.9",
    ]
)
_TRAIL = st.sampled_from(["", "  ", "\t", " # note", "\xa0"])
_SERVER = st.builds(
    lambda indent, word, name, address, options, trail: (
        f"{indent}{word} {name} {address} {' '.join(options)}".rstrip() + trail
    ),
    _INDENT,
    st.sampled_from(["server", "server", "server", "Server", "servers"]),
    _NAME,
    _ADDRESS,
    st.lists(_OPTION, max_size=4),
    _TRAIL,
)
_SHORT_SERVER = st.sampled_from(["    server", "    server lonely", "server\tx"])
_OTHER = st.sampled_from(
    [
        "backend b1",
        "backend b2",
        "  backend b1",
        "listen l1",
        "frontend f",
        "defaults",
        "defaults named",
        "backend b3 from named",
        "global",
        "    default-server check maxconn 5",
        "    default-server weight 2 no-check",
        "    default-server bogus",
        "    balance roundrobin",
        "    balance uri whole",
        "    option httpchk GET /",
        "    server-template t 3 h.internal:80 check",
        "    timeout server 5s",
        "    use_backend b1 if TRUE",
        "    default_backend b2",
        "    bind :80",
        '    http-request set-header X "a b"',
        "    server q '10.0.0.1:80' check",
        '    server v "${SET}":80',
        "    server w ${UNSET}:80",
        "# a comment",
        "    # lbguard: ignore=LBG101 reason",
        ".if defined(SET)",
        ".if defined(UNSET)",
        ".else",
        ".endif",
        "",
        "   ",
        "\xa0",
        "    http-request deny " + " ".join(f"w{i}" for i in range(70)),
        "    " + " ".join(f"x{i}" for i in range(64)),
        "    .notice hi",
    ]
)
_CONFIG = st.lists(st.one_of(_SERVER, _SERVER, _SHORT_SERVER, _OTHER), max_size=40)


@needs_native
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_CONFIG, final_newline=st.booleans())
def test_generated_configs_parse_the_same_both_ways(lines: list[str], final_newline: bool) -> None:
    text = "\n".join(["backend start", *lines]) + ("\n" if final_newline else "")
    assert_same(*both([source(text)]))


@needs_native
@settings(max_examples=100, deadline=None)
@given(first=_CONFIG, second=_CONFIG)
def test_configs_of_two_files_parse_the_same_both_ways(first: list[str], second: list[str]) -> None:
    texts = [
        source("\n".join(["defaults", *first]) + "\n", "a.cfg"),
        source("\n".join(second) + "\n", "b.cfg"),
    ]
    assert_same(*both(texts))


def test_the_whole_check_reports_the_same_without_the_c_twins(tmp_path: Path) -> None:
    """End to end, in fresh processes: the JSON report is byte for byte the same."""
    cfg = tmp_path / "big.cfg"
    generate_big(cfg, 300, 8)
    argv = [sys.executable, "-m", "lbguard", "check", "--no-native", "--format", "json", str(cfg)]
    outs = []
    for pure in ("", "1"):
        env = {**os.environ, "LBGUARD_PURE_PYTHON": pure}
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    assert len(json.loads(outs[0])["findings"]) > 300


def test_version_says_which_twins_run() -> None:
    argv = [sys.executable, "-m", "lbguard", "--version"]
    env = {**os.environ, "LBGUARD_PURE_PYTHON": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert "(pure Python: LBGUARD_PURE_PYTHON is set)" in proc.stdout
    env["LBGUARD_PURE_PYTHON"] = ""
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert speedups.status() in proc.stdout


@needs_native
def test_the_c_lexer_keeps_one_object_per_word() -> None:
    """Equal words are one object (Latin-1 lines; others each get their own), same values."""
    text = (
        "backend b\n    balance roundrobin\n"
        "backend c\n    balance roundrobin\n"
        "backend d\n    balance \xe9t\xe9\n    option \u2003x\n"
        "backend e\n    balance \xe9t\xe9\n    option \u2003x\n"
    )
    fast, slow = both([source(text)])
    assert_same(fast, slow)
    b, c, d, e = (s.directives for s in fast.config.sections)
    assert b[0].args[0] == "roundrobin" and b[0].args[0] is c[0].args[0]
    assert d[0].args[0] == "\xe9t\xe9" and d[0].args[0] is e[0].args[0]
    assert d[1].args == e[1].args
    assert native is not None and len(native.WordTable()) == 0
