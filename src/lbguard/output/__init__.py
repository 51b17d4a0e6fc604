"""Report formats. Every format renders the same Report, so they cannot disagree."""

from __future__ import annotations

from typing import TextIO

from lbguard.report import Report

FORMATS = ("text", "json", "sarif", "junit", "github")


def render(report: Report, fmt: str, stream: TextIO, *, color: bool | None = None) -> None:
    """Write `report` to `stream` in format `fmt`.

    Each format is imported only when asked for, so `--format json` in a CI loop does
    not pay for importing rich. `color` only matters to the text format; None means
    "colour when the stream is a terminal and NO_COLOR is unset".
    """
    if fmt == "json":
        from lbguard.output.json_format import render_json

        render_json(report, stream)
    elif fmt == "sarif":
        from lbguard.output.sarif import render_sarif

        render_sarif(report, stream)
    elif fmt == "junit":
        from lbguard.output.junit import render_junit

        render_junit(report, stream)
    elif fmt == "github":
        from lbguard.output.github import render_github

        render_github(report, stream)
    elif fmt == "text":
        from lbguard.output.text import render_text

        render_text(report, stream, color=color)
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "render"]
