"""What a script rule sees: the source, every config it renders, and the map between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lbguard.model import Config, Dialect, Location
from lbguard.scripts.rendered import LineIndex, PStr, Span
from lbguard.scripts.shell import ScriptAnalysis


@dataclass
class RenderedOutput:
    """One config file the script or template writes, rendered."""

    target: str  # as the script names it (`/etc/haproxy/haproxy.cfg`)
    dialect: Dialect
    text: PStr
    config: Config | None = None
    parsed_path: str = ""  # the temporary file it was parsed from
    write_offset: int = 0  # where the script starts writing it
    lines: list[PStr] = field(default_factory=list)

    def rows(self) -> list[PStr]:
        """The rendered lines (computed once: every rule walks them)."""
        if not self.lines:
            self.lines = self.text.split_lines()
        return self.lines

    def line(self, n: int) -> PStr:
        rows = self.rows()
        return rows[n - 1] if 0 < n <= len(rows) else PStr()


@dataclass
class ScriptContext:
    path: str
    text: str
    kind: str  # shell, jinja, erb, gotmpl
    outputs: list[RenderedOutput]
    analysis: ScriptAnalysis | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    index: LineIndex = field(init=False)

    def __post_init__(self) -> None:
        self.index = LineIndex(self.text)

    def location(self, offset: int, end: int | None = None) -> Location:
        """The span [offset, end) of the source as a Location (one line at most)."""
        line, col = self.index.position(max(offset, 0))
        if end is None or end <= offset:
            return Location(self.path, line, col, line, col)
        end_line, end_col = self.index.position(end - 1)
        if end_line != line:
            line_text = self.text.split("\n")[line - 1]
            return Location(self.path, line, col, line, max(len(line_text), col))
        return Location(self.path, line, col, line, end_col)

    def source_offset(self, out: RenderedOutput, line: int, column: int) -> int:
        """Where the character at rendered (line, column) was written in the source."""
        row = out.line(line)
        i = column - 1
        if 0 <= i < len(row.origins) and row.origins[i] >= 0:
            return row.origins[i]
        for j in list(range(min(i, len(row.origins)) - 1, -1, -1)) + list(
            range(max(i, 0), len(row.origins))
        ):
            if row.origins[j] >= 0:
                return row.origins[j]
        return out.write_offset

    def span_location(self, out: RenderedOutput, line: int, span: Span) -> Location:
        """Where to report a problem caused by one expansion on a rendered line.

        At the reference itself (`${WEB2_IP}`) when it is on the line that wrote the
        config text; otherwise at the line that wrote it (a value assembled
        elsewhere is reported where it lands in the config).
        """
        written = self.source_offset(out, line, span.start + 1)
        sub = span.sub
        if sub.offset >= 0 and self.index.line(sub.offset) == self.index.line(written):
            return self.location(sub.offset, sub.end)
        return self.location(written)
