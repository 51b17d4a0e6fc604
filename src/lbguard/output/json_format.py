"""The JSON contract (version 1). Scripts rely on these exact keys; add none silently.

A new key, even a harmless one, breaks consumers that validate the shape strictly, so
anything beyond the documented keys needs a new `version`.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from typing import Any, TextIO

from lbguard.findings import Finding
from lbguard.report import Report

VERSION = 1


def finding_dict(f: Finding) -> dict[str, Any]:
    """One finding as the contract spells it.

    An unknown end (0) becomes the start, so consumers never have to special-case a
    zero: every finding has a span of at least one character.
    """
    loc = f.location
    return {
        "code": f.code,
        "rule": f.rule,
        "severity": f.severity.label,
        "message": f.message,
        "path": loc.path,
        "line": loc.line,
        "column": loc.column,
        "end_line": loc.end_line or loc.line,
        "end_column": loc.end_column or loc.column,
        "context": list(f.context),
    }


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "version": VERSION,
        "findings": [finding_dict(f) for f in report.findings],
        "summary": report.summary(),
    }


def render_json(report: Report, stream: TextIO) -> None:
    # One write of the whole text: json.dump would hand the stream thousands of small
    # pieces, each a system call when stdout is unbuffered (PYTHONUNBUFFERED, pipes in CI).
    # The same text as dumps_report(report_dict(report)), spelt from the findings
    # themselves rather than from a dict made of each first.
    records = [_finding_text(f) for f in report.findings]
    findings = "[\n" + ",\n".join(records) + "\n  ]" if records else "[]"
    stream.write(
        f'{{\n  "version": {VERSION},\n  "findings": {findings},\n'
        f'  "summary": {_nested(report.summary(), 1)}\n}}\n'
    )


def _finding_text(f: Finding) -> str:
    """`_record(finding_dict(f))`, without the dict."""
    loc = f.location
    line, column = loc.line, loc.column
    end_line, end_column = loc.end_line or line, loc.end_column or column
    context = f.context
    label = f.severity.label
    if not (
        type(line) is int
        and type(column) is int
        and type(end_line) is int
        and type(end_column) is int
        and type(f.code) is str
        and type(f.rule) is str
        and type(label) is str
        and type(f.message) is str
        and type(loc.path) is str
        and type(context) is tuple
        and (not context or all([type(c) is str for c in context]))
    ):
        return _record(finding_dict(f))
    return _FINDING_TEXT % (
        encode_basestring(f.code),
        encode_basestring(f.rule),
        encode_basestring(label),
        encode_basestring(f.message),
        encode_basestring(loc.path),
        int.__repr__(line),
        int.__repr__(column),
        int.__repr__(end_line),
        int.__repr__(end_column),
        _strings(context),
    )


def _strings(values: tuple[str, ...] | list[str]) -> str:
    """A list of strings at depth 3 of the report."""
    if not values:
        return "[]"
    return "[\n        " + ",\n        ".join(map(encode_basestring, values)) + "\n      ]"


def dumps_report(data: dict[str, Any]) -> str:
    """`json.dumps(data, indent=2, ensure_ascii=False)`, character for character, faster.

    With `indent`, the json module encodes in pure Python, one generator step per
    value: 0.1 s for the 7,500 findings of a 125k-line config. The findings are flat
    records of strings, integers and a list of strings, so they are spelt here with
    the module's own (C) string encoder; any other value goes through json.dumps,
    re-indented to its depth, so the text is the same whatever the findings hold.
    """
    parts = []
    for key, value in data.items():
        if key == "findings" and type(value) is list and value:
            text = "[\n" + ",\n".join(_record(f) for f in value) + "\n  ]"
        else:
            text = _nested(value, 1)
        parts.append(f"  {encode_basestring(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}" if parts else "{}"


_FINDING_KEYS = (
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
)
_FINDING_TEXT = "    {\n" + ",\n".join(f'      "{key}": %s' for key in _FINDING_KEYS) + "\n    }"


def _record(finding: dict[str, Any]) -> str:
    """One finding at depth 2 of the report, as json.dumps(indent=2) lays it out."""
    values = tuple(finding.values())
    if tuple(finding) == _FINDING_KEYS and _plain_finding(values):
        # The contract's own record (nearly always): filled into its layout.
        return _FINDING_TEXT % (
            encode_basestring(values[0]),
            encode_basestring(values[1]),
            encode_basestring(values[2]),
            encode_basestring(values[3]),
            encode_basestring(values[4]),
            int.__repr__(values[5]),
            int.__repr__(values[6]),
            int.__repr__(values[7]),
            int.__repr__(values[8]),
            _strings(values[9]),
        )
    parts = []
    for key, value in finding.items():
        kind = type(value)
        if kind is str:
            text = encode_basestring(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is list and value and all(type(v) is str for v in value):
            text = "[\n        " + ",\n        ".join(map(encode_basestring, value)) + "\n      ]"
        else:
            text = _nested(value, 3)
        parts.append(f"      {encode_basestring(key)}: {text}")
    if not parts:
        return "    {}"
    return "    {\n" + ",\n".join(parts) + "\n    }"


def _plain_finding(values: tuple[Any, ...]) -> bool:
    """Strings, then integers (not bools), then a list of strings, as finding_dict makes."""
    return (
        all(type(v) is str for v in values[:5])
        and all(type(v) is int for v in values[5:9])
        and type(values[9]) is list
        and all(type(v) is str for v in values[9])
    )


def _nested(value: Any, depth: int) -> str:
    """json.dumps(indent=2) of a value that sits `depth` levels deep."""
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + "  " * depth)
