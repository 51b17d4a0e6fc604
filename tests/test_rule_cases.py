"""Every rule against its case file: failing cases fire at the given lines, passing do not."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import require_shared
from lbguard import suppress
from lbguard.check import Unit, parse_unit, run_rules
from lbguard.model import Dialect
from lbguard.rules import RULES
from lbguard.settings import Settings

CASES = Path(__file__).parent / "rule_cases"


def load_cases(code: str) -> dict[str, list[dict[str, Any]]]:
    return tomllib.loads((CASES / f"{code}.toml").read_text(encoding="utf-8"))


def _params() -> list[Any]:
    out = []
    for rule in RULES:
        path = CASES / f"{rule.code}.toml"
        if not path.exists():
            continue
        data = load_cases(rule.code)
        for kind in ("fail", "pass"):
            for i, case in enumerate(data.get(kind, [])):
                out.append(pytest.param(rule.code, kind, case, id=f"{rule.code}-{kind}-{i}"))
    return out


def script_findings_for(code: str, case: dict[str, Any], tmp_path: Path) -> list[tuple[str, int]]:
    """A `kind = "script"` case: the script (or template) is rendered and checked whole.

    `env` gives the script's environment, `vars` (a TOML table) a template's variables;
    the expected lines are the script's own.
    """
    from lbguard.scripts.check import check_script
    from lbguard.scripts.inputs import ScriptInputs

    if "corpus" in case:
        path = require_shared() / "corpus" / case["corpus"]
    else:
        path = tmp_path / case.get("file", "gen.sh")
        path.write_text(case["script"], encoding="utf-8")
    inputs = ScriptInputs(environ=dict(case.get("env", {})), template_vars=case.get("vars"))
    found, _ = check_script(str(path), Settings(), env=inputs, native=False)
    return sorted({(f.code, f.location.line) for f in found if f.code == code})


def findings_for(code: str, case: dict[str, Any], tmp_path: Path) -> list[tuple[str, int]]:
    if case.get("kind") == "script":
        return script_findings_for(code, case, tmp_path)
    dialect = Dialect(case.get("dialect", "haproxy"))
    if "corpus" in case:
        # A false-positive guard taken from real configs in the shared corpus.
        path = require_shared() / "corpus" / case["corpus"]
    else:
        suffix = ".cfg" if dialect is Dialect.HAPROXY else ".conf"
        path = tmp_path / f"case{suffix}"
        path.write_text(case["config"], encoding="utf-8")
    parsed = parse_unit(Unit(dialect, [str(path)]), context=case.get("context"))
    found = run_rules(parsed.config, Settings())
    sups, _ = suppress.collect(parsed.config)
    kept, _ = suppress.apply(found, sups)
    return sorted({(f.code, f.location.line) for f in kept if f.code == code})


@pytest.mark.parametrize(("code", "kind", "case"), _params())
def test_rule_case(code: str, kind: str, case: dict[str, Any], tmp_path: Path) -> None:
    got = findings_for(code, case, tmp_path)
    if kind == "fail":
        expected = sorted((code, line) for line in case["lines"])
        assert got == expected, case["name"]
    else:
        assert got == [], case["name"]
