"""GitHub Actions workflow commands: one annotation per finding on the PR's diff.

The runner reads each stdout line as a command, so a message with a newline, or a
path with a comma, must be escaped or it ends the command early and the rest of it
is lost (or, worse, read as another command).
"""

from __future__ import annotations

from typing import TextIO

from lbguard.findings import Severity
from lbguard.report import Report

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """The message part: '%' first, or the escapes it introduces would be re-escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value: also ':' and ',', which separate properties from each other."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, stream: TextIO) -> None:
    lines: list[str] = []
    for f in report.findings:
        loc = f.location
        # GitHub matches annotations to files by repository-relative POSIX paths.
        path = loc.path.replace("\\", "/")
        props = [
            f"file={escape_property(path)}",
            f"line={loc.line}",
            f"col={loc.column}",
            f"endLine={loc.end_line or loc.line}",
            f"endColumn={loc.end_column or loc.column}",
            f"title={escape_property(f'{f.code} {f.rule}')}",
        ]
        lines.append(f"::{_LEVEL[f.severity]} {','.join(props)}::{escape_data(f.message)}\n")
    s = report.summary()
    lines.append(
        f"lbguard: {s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info(s) "
        f"in {s['files']} file(s)\n"
    )
    stream.write("".join(lines))
