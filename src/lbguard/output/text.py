"""Human output: one header line per finding, a code frame under it, a summary at the end.

Colour only on a terminal; piped into a file or a CI log it is plain text, so grep
and diff work on it.
"""

from __future__ import annotations

import os
from typing import TextIO

from rich.console import Console
from rich.text import Text

from lbguard.findings import Finding, Severity
from lbguard.report import Report

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
CONTEXT_LINES = 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def frame(lines: list[str], f: Finding) -> list[Text]:
    """The offending line with a line of context each side and a caret under the span."""
    loc = f.location
    count = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
    if not 1 <= loc.line <= count:
        return []
    first = max(1, loc.line - CONTEXT_LINES)
    last = min(count, loc.line + CONTEXT_LINES)
    width = len(str(last))
    out: list[Text] = []
    for n in range(first, last + 1):
        src = lines[n - 1].rstrip("\r").expandtabs(4) if n != loc.line else lines[n - 1]
        row = Text(f"  {n:>{width}} | ", style="dim")
        if n == loc.line:
            raw = lines[n - 1].rstrip("\r")
            row.append(raw.expandtabs(4))
            out.append(row)
            # Columns count characters of the raw line; tabs widen to 4 on screen.
            start = len(raw[: max(loc.column - 1, 0)].expandtabs(4))
            end_col = loc.end_column if loc.end_line in (0, loc.line) else len(raw)
            end_col = max(end_col, loc.column)
            length = max(len(raw[loc.column - 1 : end_col].expandtabs(4)), 1)
            caret = Text(f"  {'':>{width}} | ", style="dim")
            caret.append(" " * start + "^" * length, style=_STYLE[f.severity])
            out.append(caret)
        else:
            row.append(src.rstrip())
            out.append(row)
    return out


def render_text(report: Report, stream: TextIO, *, color: bool | None = None) -> None:
    if color is None:
        color = stream.isatty() and "NO_COLOR" not in os.environ
    console = Console(
        file=stream,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        soft_wrap=True,
        width=int(os.environ.get("COLUMNS", "100") or 100),
    )
    for notice in report.notices:
        console.print(Text(notice))
    for f in report.findings:
        loc = f.location
        head = Text(f"{loc.path}:{loc.line}:{loc.column}: ", style="bold")
        head.append(f.severity.label, style=_STYLE[f.severity])
        head.append(f" {f.code} ", style="bold")
        head.append(f"[{f.rule}] ", style="dim")
        head.append(f.message)
        console.print(head)
        for row in frame(list(report.sources.get(loc.path, ())), f):
            console.print(row)
        if f.fix:
            console.print(Text(f"  = fix: {f.fix}", style="green"))
        console.print()
    s = report.summary()
    files = _plural(s["files"], "file")
    if not report.findings:
        console.print(Text(f"No problems found in {files}.", style="bold green"))
        return
    console.print(
        Text(
            f"Found {_plural(s['errors'], 'error')}, {_plural(s['warnings'], 'warning')} and "
            f"{_plural(s['infos'], 'info')} in {files}.",
            style="bold",
        )
    )
