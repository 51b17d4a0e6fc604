"""Reading a config-writing shell script without running it.

The incident config was not typed by hand: a provisioning script wrote it from
variables. This module finds what such a script writes (heredocs, echo/printf
appends, envsubst pipelines), expands variables the way the shell would, unrolls
simple `for` loops, and keeps a map from every rendered character back to the
script, so a finding in the rendered config is reported at the script's own line.

It never executes anything: `$(...)` and backticks are marked unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ASSIGN = re.compile(
    rf"^\s*(?:export\s+|readonly\s+|local\s+|declare\s+(?:-\w+\s+)*)?({_NAME})=(.*)$"
)
_HEREDOC = re.compile(r"<<(-?)\s*(?:'([^']+)'|\"([^\"]+)\"|\\?([A-Za-z_][A-Za-z0-9_]*))")
_REDIRECT = re.compile(r"(>>?)\s*(\"[^\"]*\"|'[^']*'|[^\s;|&<>]+)")
_TEE = re.compile(r"\btee\s+((?:-a\s+|--append\s+)?)(\"[^\"]*\"|'[^']*'|[^\s;|&<>]+)")
_FOR = re.compile(rf"^\s*for\s+({_NAME})\s+in\s+(.*?)\s*(?:;\s*do\b(.*))?$")
_GUARD = re.compile(rf"\$\{{({_NAME}):?\?[^}}]*\}}")
_RELOAD = re.compile(
    r"\b(systemctl\s+(?:reload|restart|reload-or-restart)\s+(haproxy|nginx)\S*|"
    r"service\s+(haproxy|nginx)\s+(?:reload|restart)|nginx\s+-s\s+reload|"
    r"haproxy\b[^\n]*\s-s[ft]\b)"
)
_VALIDATE = re.compile(r"\b(haproxy\b[^\n;|&]*\s-c\b|nginx\b[^\n;|&]*\s-t\b|lbguard\s+check\b)")


@dataclass(frozen=True)
class Substitution:
    """One `$NAME` / `${...}` / `$(...)` reference and what it expanded to."""

    name: str
    line: int
    column: int
    end_column: int
    value: str | None  # None: unknown (command substitution, unset positional)
    unset: bool = False
    guarded: bool = False  # `${X:?}` or `set -u` stops the script when X is unset
    command: bool = False


@dataclass
class Segment:
    """Rendered columns [start, end) come from script column `script_column` of `line`."""

    start: int
    end: int
    line: int
    script_column: int
    sub: Substitution | None = None


@dataclass
class RenderedLine:
    text: str
    line: int  # script line this rendered line came from
    segments: list[Segment] = field(default_factory=list)

    def script_position(self, column: int) -> tuple[int, int]:
        """Map a 1-based rendered column to (script line, script column)."""
        for seg in self.segments:
            if seg.start <= column - 1 < seg.end:
                if seg.sub is not None:
                    return seg.sub.line, seg.sub.column
                return seg.line, seg.script_column + (column - 1 - seg.start)
        return self.line, 1

    def substitutions(self) -> list[tuple[Segment, Substitution]]:
        return [(s, s.sub) for s in self.segments if s.sub is not None]


@dataclass
class Output:
    """Text the script writes to one file, with its line map."""

    target: str
    target_line: int
    lines: list[RenderedLine] = field(default_factory=list)
    quoted_heredocs: list[tuple[int, str]] = field(default_factory=list)
    envsubst: list[tuple[int, bool]] = field(default_factory=list)  # (line, has variable list)
    raw_dollars: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(line.text + "\n" for line in self.lines)


@dataclass
class Reload:
    line: int
    command: str
    validated: bool
    validation_line: int | None


@dataclass
class Note:
    line: int
    column: int
    message: str


@dataclass
class ScriptAnalysis:
    path: str
    outputs: list[Output]
    substitutions: list[Substitution]
    reloads: list[Reload]
    notes: list[Note]
    nounset: bool


# --------------------------------------------------------------------- expansion


class _Expander:
    def __init__(self, env: Mapping[str, str], nounset: bool) -> None:
        self.vars: dict[str, str] = dict(env)
        self.guarded: set[str] = set()
        self.nounset = nounset
        self.subs: list[Substitution] = []
        self.overrides: frozenset[str] = frozenset()
        # Variables whose value comes from a command lbguard does not run.
        self.unknown: dict[str, str] = {}
        self._placeholders = 0

    def placeholder(self, before: str, after: str) -> str:
        """A stand-in for an unknown value that parses where it stands (host or port)."""
        self._placeholders += 1
        n = self._placeholders
        if before.endswith(":") or before.endswith("port ") or before.endswith("="):
            return str(20000 + n)
        if after.startswith(":") or before.endswith(" "):
            return f"192.0.2.{n % 250 + 1}"
        return f"unknown{n}"

    def expand(
        self,
        text: str,
        line: int,
        column: int,
        *,
        quoted_heredoc: bool = False,
        heredoc: bool = False,
        only: frozenset[str] | None = None,
    ) -> RenderedLine:
        """Expand one line of text; `column` is the script column of text[0]."""
        out = RenderedLine("", line)
        if quoted_heredoc:
            out.text = text
            out.segments.append(Segment(0, len(text), line, column))
            return out
        buf: list[str] = []
        lit_start = 0  # rendered start of the current literal run
        lit_col = column
        i = 0
        n = len(text)

        def flush_literal(upto_script_col: int) -> None:
            nonlocal lit_start
            length = len("".join(buf)) - lit_start
            if length > 0:
                out.segments.append(Segment(lit_start, lit_start + length, line, lit_col))
            lit_start = len("".join(buf))

        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n and text[i + 1] in '$`\\"':
                if heredoc and text[i + 1] == '"':
                    buf.append(c)
                    i += 1
                    continue
                flush_literal(column + i)
                lit_col = column + i + 1
                buf.append(text[i + 1])
                i += 2
                continue
            if c == "$" and i + 1 < n and (text[i + 1] in "{(" or re.match(_NAME, text[i + 1])):
                end, sub = self._reference(text, i, line, column, only)
                if sub is None:
                    buf.append(c)
                    i += 1
                    continue
                flush_literal(column + i)
                start = len("".join(buf))
                value = sub.value
                if value is None:
                    value = self.placeholder("".join(buf)[-6:], text[end : end + 1])
                buf.append(value)
                out.segments.append(Segment(start, start + len(value), line, column + i, sub))
                lit_start = len("".join(buf))
                lit_col = column + end
                self.subs.append(sub)
                i = end
                continue
            if c == "`":
                close = text.find("`", i + 1)
                close = n - 1 if close < 0 else close
                flush_literal(column + i)
                sub = Substitution(
                    "`" + text[i + 1 : close] + "`",
                    line,
                    column + i,
                    column + close,
                    None,
                    command=True,
                )
                start = len("".join(buf))
                placeholder = self.placeholder("".join(buf)[-6:], text[close + 1 : close + 2])
                buf.append(placeholder)
                out.segments.append(Segment(start, start + len(placeholder), line, column + i, sub))
                lit_start = len("".join(buf))
                lit_col = column + close + 1
                self.subs.append(sub)
                i = close + 1
                continue
            buf.append(c)
            i += 1
        flush_literal(column + n)
        out.text = "".join(buf)
        return out

    def _reference(
        self, text: str, i: int, line: int, column: int, only: frozenset[str] | None
    ) -> tuple[int, Substitution | None]:
        col = column + i
        if text.startswith("$(", i) and not text.startswith("$((", i):
            depth, j = 0, i + 1
            while j < len(text):
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner = text[i + 2 : j]
            return j + 1, Substitution(f"$({inner})", line, col, column + j, None, command=True)
        if text.startswith("${", i):
            close = text.find("}", i)
            if close < 0:
                return i + 1, None
            body = text[i + 2 : close]
            m = re.match(rf"({_NAME}|[0-9@*#?])(?:(:?[-=?+])(.*))?$", body, re.DOTALL)
            if m is None:
                return close + 1, Substitution(body, line, col, column + close, None)
            name, op, word = m.group(1), m.group(2), m.group(3) or ""
            if only is not None and name not in only:
                return close + 1, None
            return close + 1, self._apply(name, op, word, line, col, column + close)
        m = re.match(_NAME + r"|[0-9@*#?]", text[i + 1 :])
        if m is None:
            return i + 1, None
        name = m.group(0)
        if only is not None and name not in only:
            return i + 1 + len(name), None
        end = i + 1 + len(name)
        return end, self._apply(name, None, "", line, col, column + end - 1)

    def _apply(
        self, name: str, op: str | None, word: str, line: int, col: int, end: int
    ) -> Substitution:
        if name in self.unknown and name not in self.vars:
            return Substitution(name, line, col, end, None, command=True)
        value = self.vars.get(name)
        if name.isdigit() or name in "@*#?":
            return Substitution(name, line, col, end, value, unset=value is None)
        unset = value is None
        empty = unset or value == ""
        guarded = name in self.guarded or (self.nounset and unset)
        if op in (":-", "-"):
            if (op == ":-" and empty) or (op == "-" and unset):
                return Substitution(name, line, col, end, word, unset=False)
        elif op in (":=", "="):
            if (op == ":=" and empty) or (op == "=" and unset):
                self.vars[name] = word
                return Substitution(name, line, col, end, word)
        elif op in (":?", "?"):
            guarded = True
            self.guarded.add(name)
        elif op in (":+", "+"):
            present = not empty if op == ":+" else not unset
            return Substitution(name, line, col, end, word if present else "")
        return Substitution(
            name, line, col, end, "" if value is None else value, unset=unset, guarded=guarded
        )


# ----------------------------------------------------------------------- reading


def _strip_quotes(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def _loop_values(spec: str, ex: _Expander, line: int) -> list[str] | None:
    spec = spec.strip()
    m = re.fullmatch(r"\{(-?\d+)\.\.(-?\d+)\}", spec)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        step = 1 if hi >= lo else -1
        return [str(v) for v in range(lo, hi + step, step)]
    m = re.fullmatch(r"\$\(\s*seq\s+(-?\d+)(?:\s+(-?\d+))?(?:\s+(-?\d+))?\s*\)", spec)
    if m:
        nums = [int(g) for g in m.groups() if g is not None]
        if len(nums) == 1:
            return [str(v) for v in range(1, nums[0] + 1)]
        if len(nums) == 2:
            return [str(v) for v in range(nums[0], nums[1] + 1)]
        return [str(v) for v in range(nums[0], nums[2] + 1, nums[1])]
    if "$(" in spec or "`" in spec or "[@]" in spec:
        return None
    rendered = ex.expand(spec, line, 1)
    if any(sub.command or sub.value is None for _, sub in rendered.substitutions()):
        return None
    return [_strip_quotes(w) for w in rendered.text.split()]


def analyse_script(
    path: str,
    text: str,
    env: Mapping[str, str] | None = None,
    overrides: frozenset[str] | None = None,
) -> ScriptAnalysis:
    """Everything the script writes, with variables expanded; nothing is executed."""
    lines = text.split("\n")
    nounset = bool(re.search(r"^\s*set\s+-[a-z]*u", text, re.MULTILINE)) or bool(
        re.search(r"^\s*set\s+-o\s+nounset", text, re.MULTILINE)
    )
    errexit = bool(re.search(r"^\s*set\s+-[a-z]*e", text, re.MULTILINE))
    ex = _Expander(env or {}, nounset)
    ex.overrides = frozenset(overrides or ())
    outputs: dict[str, Output] = {}
    var_texts: dict[str, tuple[list[tuple[int, str]], bool]] = {}
    notes: list[Note] = []
    reloads: list[Reload] = []
    validations: list[tuple[int, bool]] = []

    def output_for(target: str, line: int, append: bool) -> Output:
        out = outputs.get(target)
        if out is None or not append:
            out = Output(target, line)
            outputs[target] = out
        return out

    def run(block: list[tuple[int, str]]) -> None:
        i = 0
        while i < len(block):
            lineno, raw = block[i]
            stripped = raw.strip()
            i += 1
            if not stripped or stripped.startswith("#"):
                continue
            heredoc = _HEREDOC.search(raw)
            if heredoc is not None and not _in_quotes(raw, heredoc.start()):
                strip_tabs = heredoc.group(1) == "-"
                quoted = heredoc.group(2) is not None or heredoc.group(3) is not None
                delim = heredoc.group(2) or heredoc.group(3) or heredoc.group(4) or ""
                body: list[tuple[int, str]] = []
                closed = False
                while i < len(block):
                    bl, btext = block[i]
                    i += 1
                    check = btext.lstrip("\t") if strip_tabs else btext
                    if check == delim:
                        closed = True
                        break
                    body.append((bl, btext.lstrip("\t") if strip_tabs else btext))
                if not closed:
                    notes.append(
                        Note(lineno, heredoc.start() + 1, f"heredoc '{delim}' is never closed")
                    )
                _heredoc(raw, lineno, heredoc.start(), body, quoted, delim)
                continue
            loop = _FOR.match(raw)
            if loop is not None:
                var, spec, rest = loop.group(1), loop.group(2), loop.group(3)
                body, i = _collect_loop(block, i, rest, lineno)
                values = _loop_values(spec, ex, lineno)
                if values is None:
                    notes.append(
                        Note(
                            lineno,
                            raw.find("for") + 1,
                            f"the loop over '{spec}' cannot be unrolled without running the "
                            "script; the lines it writes were not checked",
                        )
                    )
                    continue
                saved = ex.vars.get(var)
                for value in values:
                    ex.vars[var] = value
                    run(body)
                if saved is None:
                    ex.vars.pop(var, None)
                else:
                    ex.vars[var] = saved
                continue
            assign = _ASSIGN.match(raw)
            if assign is not None and not stripped.startswith(("if ", "while ")):
                name, value = assign.group(1), assign.group(2).strip()
                if re.match(r"^\$\(\s*cat\s*<<", value):
                    continue  # handled as a heredoc on this line
                if name in ex.vars and name in ex.overrides:
                    continue  # --var and --env values win over the script's own defaults
                rendered = ex.expand(_strip_quotes(value), lineno, assign.start(2) + 1)
                if any(sub.command for _, sub in rendered.substitutions()):
                    ex.unknown[name] = value
                    ex.vars.pop(name, None)
                else:
                    ex.vars[name] = rendered.text
                continue
            for guard in _GUARD.finditer(raw):
                ex.guarded.add(guard.group(1))
                ex.expand(guard.group(0), lineno, guard.start() + 1)
            if re.search(r"\b(echo|printf)\b", stripped) and _REDIRECT.search(stripped):
                _echo(raw, lineno)
            if "envsubst" in stripped:
                _envsubst(raw, lineno)
            for m in _VALIDATE.finditer(raw):
                checked = (
                    errexit
                    or bool(re.search(r"^\s*(if|until|while)\b|&&|\|\|", raw))
                    or _status_checked(block, i)
                )
                validations.append((lineno, checked))
                del m
                break
            reload = _RELOAD.search(raw)
            if reload is not None:
                prior = [v for v in validations if v[0] <= lineno]
                same_line = _VALIDATE.search(raw[: reload.start()]) is not None
                ok = same_line and "&&" in raw[: reload.start()]
                ok = ok or any(checked for _, checked in prior)
                reloads.append(Reload(lineno, reload.group(0), ok, prior[-1][0] if prior else None))

    def _heredoc(
        raw: str,
        lineno: int,
        start: int,
        body: list[tuple[int, str]],
        quoted: bool,
        delim: str,
    ) -> None:
        before = raw[:start]
        assign = re.match(rf"^\s*(?:export\s+)?({_NAME})=\$\(", raw)
        if assign is not None:
            var_texts[assign.group(1)] = (body, quoted)
            return
        target = _target(raw, lineno)
        if target is None:
            return
        out = output_for(target[0], lineno, target[1])
        if quoted:
            out.quoted_heredocs.append((lineno, delim))
        for bl, btext in body:
            out.lines.append(ex.expand(btext, bl, 1, quoted_heredoc=quoted, heredoc=True))
            if quoted:
                for m in re.finditer(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", btext):
                    out.raw_dollars.append((bl, m.start() + 1, m.group(1)))
        del before

    def _target(raw: str, lineno: int) -> tuple[str, bool] | None:
        tee = _TEE.search(raw)
        if tee is not None:
            word = tee.group(2)
            target = ex.expand(_strip_quotes(word), lineno, tee.start(2) + 1).text
            return target, bool(tee.group(1))
        for m in _REDIRECT.finditer(raw):
            word = m.group(2)
            if word.startswith("&") or word in ("/dev/null", "/dev/stderr"):
                continue
            target = ex.expand(_strip_quotes(word), lineno, m.start(2) + 1).text
            return target, m.group(1) == ">>"
        return None

    def _echo(raw: str, lineno: int) -> None:
        target = _target(raw, lineno)
        if target is None or not re.search(r"\.(cfg|conf)\b|haproxy|nginx|\$|OUT", target[0]):
            return
        m = re.search(r"\b(echo|printf)\s+(?:-[neE]+\s+)?(\"(?:[^\"\\]|\\.)*\"|'[^']*')", raw)
        if m is None:
            return
        word = m.group(2)
        inner_col = m.start(2) + 2
        content = word[1:-1]
        if m.group(1) == "printf":
            content = content.replace("\\n", "")
        if word[0] == "'":
            rendered = ex.expand(content, lineno, inner_col, quoted_heredoc=True)
        else:
            rendered = ex.expand(content, lineno, inner_col)
        output_for(target[0], lineno, True).lines.append(rendered)

    def _envsubst(raw: str, lineno: int) -> None:
        target = _target(raw, lineno)
        if target is None:
            return
        m = re.search(r"envsubst(?:\s+(\"[^\"]*\"|'[^']*'))?", raw)
        allowed: frozenset[str] | None = None
        if m is not None and m.group(1):
            allowed = frozenset(re.findall(_NAME, _strip_quotes(m.group(1))))
        source = re.search(rf"\$\{{?({_NAME})\}}?", raw[: m.start()] if m else raw)
        if source is None or source.group(1) not in var_texts:
            return
        body, _ = var_texts[source.group(1)]
        out = output_for(target[0], lineno, target[1])
        out.envsubst.append((lineno, allowed is not None))
        saved_nounset = ex.nounset
        ex.nounset = False
        for bl, btext in body:
            rendered = ex.expand(btext, bl, 1, only=allowed)
            if allowed is None:
                # envsubst replaces every $word, set or not, and knows no defaults.
                for seg, sub in rendered.substitutions():
                    del seg
                    if sub.unset:
                        out.raw_dollars.append((sub.line, sub.column, sub.name))
            out.lines.append(rendered)
        ex.nounset = saved_nounset

    run(list(enumerate(lines, start=1)))
    return ScriptAnalysis(path, list(outputs.values()), ex.subs, reloads, notes, nounset)


def _in_quotes(raw: str, pos: int) -> bool:
    single = double = False
    for c in raw[:pos]:
        if c == "'" and not double:
            single = not single
        elif c == '"' and not single:
            double = not double
    return single or double


def _status_checked(block: list[tuple[int, str]], i: int) -> bool:
    """`haproxy -c ...` followed by a line that tests `$?`."""
    return any("$?" in text for _, text in block[i : i + 2])


def _collect_loop(
    block: list[tuple[int, str]], i: int, rest: str | None, lineno: int
) -> tuple[list[tuple[int, str]], int]:
    body: list[tuple[int, str]] = []
    if rest is not None and re.search(r"\bdone\b", rest):
        inner = re.sub(r"\bdone\b.*$", "", rest).strip().rstrip(";")
        return ([(lineno, inner)] if inner else []), i
    if rest is not None and rest.strip():
        body.append((lineno, rest))
    depth = 1
    seen_do = rest is not None
    while i < len(block):
        bl, text = block[i]
        i += 1
        s = text.strip()
        if not seen_do and re.match(r"^do\b", s):
            seen_do = True
            s = s[2:].strip()
            if s:
                body.append((bl, s))
            continue
        if re.match(r"^(for|while|until)\b", s):
            depth += 1
        if re.match(r"^done\b", s):
            depth -= 1
            if depth == 0:
                break
        body.append((bl, text))
    return body, i
