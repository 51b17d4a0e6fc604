"""Text that remembers where every character came from.

A config written by a script or a template is checked as rendered text, but every
finding must be reported at the script's own line, and the finding about an empty
address must name the variable that was empty. So rendered text is never a plain
`str` here: each character carries the offset in the source it was written at, and
every expansion leaves a span (possibly zero-width, when it expanded to nothing)
saying which reference produced it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Origin of a character with no place in the source (an environment value, a stand-in).
NOWHERE = -1


@dataclass(frozen=True)
class Sub:
    """One reference that was expanded: `${WEB2_IP}`, `$(cmd)`, `{{ b.host }}`, `<%= @x %>`.

    `state` says what the renderer knew: "set", "empty" (set to ""), "unset",
    "unknown" (a command substitution or a template expression lbguard cannot
    evaluate: a stand-in was used), "guarded" (unset, but the script stops before
    using it: `${X:?}` or `set -u`), or "literal" (a `$NAME` left in the text by a
    quoted heredoc, for the quoting rules).
    """

    name: str
    offset: int  # where the reference starts in the source
    end: int  # exclusive end offset of the reference in the source
    state: str
    value: str = ""
    origin: str = ""  # where the value came from: "--var", "environment", "line 12", ...
    command: str = ""  # the command of a `$(...)` the value depends on
    # "shell", "envsubst", "template", or "literal" (left unexpanded by a quoted heredoc).
    kind: str = "shell"
    # A related place in the source: the `<<'EOF'` of a literal, the envsubst call.
    anchor: int = -1

    @property
    def missing(self) -> bool:
        return self.state in ("empty", "unset")

    @property
    def standin(self) -> bool:
        return self.state in ("unknown", "guarded")


@dataclass(frozen=True)
class Span:
    """Rendered characters [start, end) were produced by `sub` (start == end: nothing)."""

    start: int
    end: int
    sub: Sub


@dataclass
class PStr:
    """A string whose characters each know their source offset, plus expansion spans."""

    text: str = ""
    origins: list[int] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)

    @classmethod
    def literal(cls, text: str, offset: int) -> PStr:
        """Text copied from the source starting at `offset`."""
        return cls(
            text, list(range(offset, offset + len(text))) if offset >= 0 else [-1] * len(text)
        )

    @classmethod
    def at(cls, text: str, offset: int) -> PStr:
        """Text that did not come from the source but belongs at one place in it."""
        return cls(text, [offset] * len(text))

    def __len__(self) -> int:
        return len(self.text)

    def copy(self) -> PStr:
        return PStr(self.text, list(self.origins), list(self.spans))

    def append(self, other: PStr) -> None:
        shift = len(self.text)
        self.text += other.text
        self.origins.extend(other.origins)
        self.spans.extend(Span(s.start + shift, s.end + shift, s.sub) for s in other.spans)

    def __add__(self, other: PStr) -> PStr:
        out = self.copy()
        out.append(other)
        return out

    def slice(self, start: int, end: int | None = None) -> PStr:
        stop = len(self.text) if end is None else end
        spans = [
            Span(max(s.start, start) - start, min(s.end, stop) - start, s.sub)
            for s in self.spans
            if (s.start < stop and s.end > start) or (s.start == s.end and start <= s.start <= stop)
        ]
        return PStr(self.text[start:stop], self.origins[start:stop], spans)

    def add_span(self, start: int, end: int, sub: Sub) -> None:
        self.spans.append(Span(start, end, sub))

    def split_lines(self) -> list[PStr]:
        """One PStr per line (without the newline), each with the spans that touch it.

        A sweep over spans sorted by start, so a 10k-line config with a span per line
        costs O(lines + spans), not their product.
        """
        bounds: list[tuple[int, int]] = []
        start = 0
        for m in re.finditer("\n", self.text):
            bounds.append((start, m.start()))
            start = m.end()
        bounds.append((start, len(self.text)))
        ordered = sorted(self.spans, key=lambda sp: sp.start)
        active: list[Span] = []
        k = 0
        out: list[PStr] = []
        for ls, le in bounds:
            while k < len(ordered) and ordered[k].start <= le:
                active.append(ordered[k])
                k += 1
            active = [
                sp
                for sp in active
                if sp.end > ls
                or (sp.start == sp.end and sp.start >= ls)
                or (sp.end == ls and sp.start == ls)
            ]
            spans = [
                Span(max(sp.start, ls) - ls, min(sp.end, le) - ls, sp.sub)
                for sp in active
                if sp.start <= le and (sp.end > ls or sp.start >= ls)
            ]
            out.append(PStr(self.text[ls:le], self.origins[ls:le], spans))
        return out

    def strip_trailing_newlines(self) -> PStr:
        end = len(self.text.rstrip("\n"))
        return self.slice(0, end)


def join(parts: Iterable[PStr], sep: PStr | None = None) -> PStr:
    out = PStr()
    for i, part in enumerate(parts):
        if i and sep is not None:
            out.append(sep)
        out.append(part)
    return out


class LineIndex:
    """Offsets to 1-based (line, column) in one source text."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.text = text

    def position(self, offset: int) -> tuple[int, int]:
        if offset < 0:
            return 1, 1
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1

    def line(self, offset: int) -> int:
        return self.position(offset)[0]

    def offset(self, line: int, column: int = 1) -> int:
        return self.starts[line - 1] + column - 1


def standin(before: str, after: str, n: int) -> str:
    """A neutral value for an unknown expansion that parses where it stands.

    Stand-ins let the rest of the line be checked; findings that land on them are
    dropped, because they would be about lbguard's guess, not the author's config.
    """
    word = before.rstrip().rsplit(None, 1)[-1].lower() if before.strip() else ""
    glued = bool(before) and not before[-1].isspace()
    if before.endswith((":", "=")) or word in _NUMERIC:
        return str(8000 + n % 1000) if before.endswith(":") else str(10 + n % 90)
    if glued and before[-1].isalnum():
        return ""
    if word == "balance":
        return "roundrobin"
    if after.startswith(":"):
        return f"192.0.2.{n % 250 + 1}"
    if word in ("server", "server-template", "backend", "frontend", "listen", "upstream"):
        if word == "server" and after.startswith(";"):
            return f"192.0.2.{n % 250 + 1}"
        return f"standin{n}"
    if word == "proxy_pass" or _SERVER_NAME.search(before):
        return f"192.0.2.{n % 250 + 1}:{8000 + n % 1000}"
    return f"standin{n}"


_NUMERIC = frozenset(
    {
        "maxconn",
        "weight",
        "inter",
        "rise",
        "fall",
        "retries",
        "maxqueue",
        "port",
        "listen",
        "worker_connections",
        "keepalive",
        "max_fails",
        "slots",
    }
)
# `server NAME ` in HAProxy: the next word is the address.
_SERVER_NAME = re.compile(r"^\s*server\s+\S+\s+$|^\s*server\s+$")
