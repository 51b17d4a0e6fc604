"""The catalogue's own contract: every rule is documented, tested both ways, and has a page."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from lbguard.findings import Severity
from lbguard.model import Dialect
from lbguard.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).parent / "rule_cases"
DOCS = ROOT / "docs" / "rules"

SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_contract(rule: type) -> None:
    assert re.fullmatch(r"LBG[1-4]\d\d", rule.code), rule.code
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", rule.name), rule.name
    assert isinstance(rule.severity, Severity)
    assert rule.target in ("pool", "frontend", "config")
    doc = rule.doc()
    for heading in SECTIONS:
        assert heading in doc, f"{rule.code} docstring lacks {heading!r}"
    for option in rule.options:
        assert option.name in doc, f"{rule.code} does not document option {option.name}"
    cases = tomllib.loads((CASES / f"{rule.code}.toml").read_text(encoding="utf-8"))
    assert cases.get("fail"), f"{rule.code} has no failing case"
    assert cases.get("pass"), f"{rule.code} has no passing case"
    if Dialect.NGINX in rule.dialects:
        assert any("corpus" in case for case in cases["pass"]), (
            f"{rule.code} runs on nginx but has no false-positive guard from the corpus"
        )
    page = DOCS / f"{rule.code}.md"
    assert page.is_file(), f"{rule.code} has no docs page; run `make docs-rules`"


def test_codes_and_names_are_unique() -> None:
    assert len({r.code for r in RULES}) == len(RULES)
    assert len({r.name for r in RULES}) == len(RULES)


def test_docs_pages_are_generated_from_the_code() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from gen_rule_docs import render_rule_page

    for rule in RULES:
        assert (DOCS / f"{rule.code}.md").read_text(encoding="utf-8") == render_rule_page(rule), (
            f"docs/rules/{rule.code}.md is stale; run `make docs-rules`"
        )
