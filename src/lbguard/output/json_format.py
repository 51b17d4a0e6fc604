"""The JSON contract (version 1). Scripts rely on these exact keys; add none silently.

A new key, even a harmless one, breaks consumers that validate the shape strictly, so
anything beyond the documented keys needs a new `version`.
"""

from __future__ import annotations

import json
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
    stream.write(json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n")
