"""GitHub Actions workflow commands: one annotation per finding on the PR's diff."""

from __future__ import annotations

from typing import TextIO

from lbguard.findings import Severity
from lbguard.report import Report

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, stream: TextIO) -> None:
    for f in report.findings:
        loc = f.location
        props = [
            f"file={escape_property(loc.path)}",
            f"line={loc.line}",
            f"col={loc.column}",
            f"endLine={loc.end_line or loc.line}",
            f"endColumn={loc.end_column or loc.column}",
            f"title={escape_property(f'{f.code} {f.rule}')}",
        ]
        stream.write(f"::{_LEVEL[f.severity]} {','.join(props)}::{escape_data(f.message)}\n")
    s = report.summary()
    stream.write(
        f"lbguard: {s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info(s) "
        f"in {s['files']} file(s)\n"
    )
