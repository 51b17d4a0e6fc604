"""The nginx parser against real-world files: no crashes, nginx's verdict, crossplane's tree.

The corpus lives outside the repository (its files keep their authors' licences), at
../shared/corpus relative to the repo root; the tests fail, rather than skip, if it
is missing, because a silently skipped oracle is worse than none.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lbguard.findings import Finding, Severity
from lbguard.parsers.nginx import parse_file, parse_nginx, to_crossplane
from lbguard.parsers.nginx_lexer import unescape

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
NGINX_DIR = CORPUS / "nginx"


@cache
def native_rows() -> dict[str, dict[str, str]]:
    with (CORPUS / "NATIVE.tsv").open(newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t")
        return {r["saved_name"]: r for r in rows if r["kind"] == "nginx"}


def corpus_files() -> list[str]:
    return sorted(p.name for p in NGINX_DIR.iterdir()) if NGINX_DIR.is_dir() else []


def test_corpus_is_present() -> None:
    assert len(corpus_files()) == 150
    assert len(native_rows()) == 150


def syntax_errors(findings: list[Finding]) -> list[Finding]:
    return [
        f
        for f in findings
        if f.code == "PARSE" and f.severity == Severity.ERROR and not f.environment
    ]


def wrapped_context(row: dict[str, str]) -> str:
    return "main" if row["wrapped"] == "no" else row["wrapped"]


@pytest.mark.parametrize("name", corpus_files())
def test_no_crash_and_native_syntax_verdict(name: str) -> None:
    """Parses every file; where nginx said "ok" lbguard has no syntax error, and where
    nginx said "syntax" lbguard has one whose span covers nginx's line (a missing ';'
    is reported at the directive, with its span running to where nginx noticed)."""
    row = native_rows()[name]
    path = NGINX_DIR / name
    _, findings = parse_nginx([path], context=wrapped_context(row))
    errs = syntax_errors(findings)
    if row["class"] == "ok":
        assert errs == []
    elif row["class"] == "syntax":
        m = re.search(r":(\d+)$", row["message"])
        assert m is not None
        line = int(m.group(1))
        here = [e for e in errs if e.location.path == str(path)]
        assert any(
            e.location.line <= line <= max(e.location.end_line, e.location.line) for e in here
        ), (
            row["message"],
            [(e.location.line, e.message) for e in errs],
        )


def test_auto_detected_context_mostly_matches_the_corpus_wrappers() -> None:
    """Auto-detection chooses the corpus wrapper for nearly all fragments; the few
    differences are fragments that fit several contexts (documented in the report)."""
    same = total = 0
    for name, row in native_rows().items():
        if row["wrapped"] == "no":
            continue
        total += 1
        from lbguard.parsers.nginx import detect_context

        path = NGINX_DIR / name
        if detect_context(parse_file(path).directives, str(path)) == row["wrapped"]:
            same += 1
    assert total == 84
    assert same >= 81


# ------------------------------------------------------------------ crossplane


def _strip(block: list[dict[str, Any]], latin1: bool) -> list[dict[str, Any]]:
    """crossplane's statement without extras; its words get nginx's unescaping, which
    crossplane does not do (nginx turns \\n into a newline; crossplane keeps the two
    characters), and a non-UTF-8 file's words are compared as crossplane decodes them."""
    out: list[dict[str, Any]] = []
    for stmt in block:
        args = [unescape(a) for a in stmt["args"]]
        new: dict[str, Any] = {"directive": stmt["directive"], "line": stmt["line"], "args": args}
        if "block" in stmt:
            new["block"] = _strip(stmt["block"], latin1)
        out.append(new)
    return out


def _as_crossplane_reads(block: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for stmt in block:
        stmt["args"] = [a.encode("latin-1").decode("utf-8", "replace") for a in stmt["args"]]
        if "block" in stmt:
            _as_crossplane_reads(stmt["block"])
    return block


# crossplane's lexer reads "${" up to the next "}" even across spaces and newlines
# ("${A} b" is one word for it, two for nginx: nginx ends a word at a space, and the
# real binary reports host "${BACKEND}" and directive "${RESOLVER}" for these files).
CROSSPLANE_DOLLAR_BRACE_BUG = frozenset(
    {
        "frappe__frappe_docker__resources__core__nginx__nginx-template.conf",
        "magenx__Magento-nginx-config__magento2__nginx.conf",
        "nginxinc__crossplane__tests__configs__messy__nginx.conf",
        "wielandtech__w_nginx_proxy__nginx__default.conf.template",
    }
)


def test_crossplane_oracle() -> None:
    crossplane = pytest.importorskip("crossplane")
    compared = equal = 0
    differing: list[str] = []
    for name in corpus_files():
        path = NGINX_DIR / name
        payload = crossplane.parse(
            str(path),
            single=True,
            comments=False,
            check_ctx=False,
            check_args=False,
            catch_errors=True,
        )
        theirs = payload["config"][0]
        ours_file = parse_file(path)
        # Compare only files both parsers read without a syntax error: after an error
        # each recovers differently, and nginx itself stops there.
        if theirs["status"] != "ok" or ours_file.errors:
            continue
        compared += 1
        ours = to_crossplane(ours_file)["config"][0]["parsed"]
        if ours_file.encoding != "utf-8":
            ours = _as_crossplane_reads(ours)
        if ours == _strip(theirs["parsed"], ours_file.encoding != "utf-8"):
            equal += 1
        else:
            differing.append(name)
    assert sorted(differing) == sorted(CROSSPLANE_DOLLAR_BRACE_BUG)
    assert compared == 146 and equal == 142
