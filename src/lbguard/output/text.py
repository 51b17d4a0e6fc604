"""Human output: one header line per finding, a code frame under it, a summary at the end.

Colour only on a terminal; piped into a file or a CI log it is plain text, so grep
and diff work on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.text import Text

from lbguard.findings import Finding, Severity
from lbguard.report import Report

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
CONTEXT_LINES = 1
TAB = 4
DEFAULT_WIDTH = 100
# Control codes (ESC starts an ANSI sequence, C1 0x9b is a one-byte CSI), lone
# surrogates and bidi overrides: a config under review, or a message quoting it, could
# otherwise recolour, rewrite or visually reorder the reader's terminal. rich strips
# only a few of these. Each becomes one replacement character, so columns still line up.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def _safe(text: str) -> str:
    return _UNSAFE.sub("\ufffd", text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _caret(raw: str, f: Finding, width: int) -> Text:
    """The underline for the finding's span on its first line.

    Columns count characters of the raw line, but the frame shows tabs widened, so both
    ends are measured on the widened prefix. A span that runs past this line is
    underlined to the end of it; one past the end of the text gets a single caret.
    """
    loc = f.location
    column = max(loc.column, 1)
    if loc.end_line > loc.line:
        end = len(raw)
    elif loc.end_column:
        end = loc.end_column
    else:
        end = column
    start = len(raw[: column - 1].expandtabs(TAB))
    stop = len(raw[: max(end, column)].expandtabs(TAB))
    caret = Text(f"  {'':>{width}} | ", style="dim")
    caret.append(" " * start + "^" * max(stop - start, 1), style=_STYLE[f.severity])
    return caret


def frame(lines: Sequence[str], f: Finding) -> list[Text]:
    """The offending line with a line of context each side and a caret under the span."""
    loc = f.location
    # Sources are split on "\n", so a file ending in a newline has a last empty element
    # that is not a line of the file.
    count = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
    if not 1 <= loc.line <= count:
        return []
    first = max(1, loc.line - CONTEXT_LINES)
    last = min(count, loc.line + CONTEXT_LINES)
    width = len(str(last))
    out: list[Text] = []
    for n in range(first, last + 1):
        raw = _safe(lines[n - 1].rstrip("\r\n"))
        row = Text(f"  {n:>{width}} | ", style="dim")
        row.append(raw.expandtabs(TAB).rstrip())
        out.append(row)
        if n == loc.line:
            out.append(_caret(raw, f, width))
    return out


def _width() -> int:
    try:
        return max(int(os.environ.get("COLUMNS", "")), 20)
    except ValueError:
        return DEFAULT_WIDTH


def _wants_color(stream: TextIO) -> bool:
    if "NO_COLOR" in os.environ:
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


def summary_line(report: Report) -> str:
    s = report.summary()
    files = _plural(s["files"], "file")
    if not report.findings:
        return f"No problems found in {files}."
    return (
        f"Found {_plural(s['errors'], 'error')}, {_plural(s['warnings'], 'warning')}, "
        f"{_plural(s['infos'], 'info')} in {files}."
    )


def render_text(report: Report, stream: TextIO, *, color: bool | None = None) -> None:
    if color is None:
        color = _wants_color(stream)
    console = Console(
        file=stream,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        soft_wrap=True,
        width=_width(),
    )
    for notice in report.notices:
        console.print(Text(_safe(notice)))
    for f in report.findings:
        loc = f.location
        head = Text(f"{_safe(str(loc))}: ", style="bold")
        head.append(f.severity.label, style=_STYLE[f.severity])
        head.append(f" {f.code} ", style="bold")
        head.append(f"[{f.rule}] ", style="dim")
        head.append(_safe(f.message))
        # One print per finding: rich's per-call cost, not the text, dominated a report
        # of thousands of findings.
        rows = [head, *frame(report.sources.get(loc.path, []), f)]
        if f.fix:
            rows.append(Text(f"  = fix: {_safe(f.fix)}", style="green"))
        rows.append(Text())
        console.print(Text("\n").join(rows))
    style = "bold" if report.findings else "bold green"
    console.print(Text(summary_line(report), style=style))
