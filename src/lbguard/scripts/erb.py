"""Puppet/Chef ERB templates: the static text, with neutral stand-ins for Ruby expressions.

lbguard does not run Ruby, so an ERB template is not rendered: its static text is
kept, each `<%= ... %>` becomes a stand-in that parses where it stands (a number
after `maxconn`, an address after `server NAME`), a loop body is kept once and only
the first branch of a conditional is kept. That is enough to check the template's
structure (sections, options, keywords); checks that depend on the values are
skipped, and each approximation is reported as an info note.
"""

from __future__ import annotations

import re

from lbguard.scripts.rendered import PStr, Sub, standin
from lbguard.scripts.shell import Note
from lbguard.scripts.template import TemplateRender, target_name

_TAG = re.compile(r"<%(%|#|=|-)?(.*?)(-?)%>", re.DOTALL)
_OPEN = re.compile(r"(\bdo\b\s*(\|[^|]*\|)?\s*$)|^\s*(if|unless|case|while|until|for)\b")
_LITERAL = re.compile(r"""^\s*(?:'([^']*)'|"([^"]*)"|(-?\d+))\s*$""")
_TERNARY = re.compile(r"""\?\s*(?:'([^']*)'|"([^"]*)")\s*:\s*(?:'([^']*)'|"([^"]*)")\s*$""")


def render_erb(path: str, text: str) -> TemplateRender:
    out = PStr()
    notes: list[Note] = []
    stack: list[tuple[str, bool]] = []  # (kind, emitting)
    pos = 0
    count = 0
    trim_next = False

    def emitting() -> bool:
        return all(e for _, e in stack)

    for m in _TAG.finditer(text):
        start = m.start()
        static_start = pos
        if trim_next and text.startswith("\n", pos):
            static_start = pos + 1
        static = text[static_start:start]
        kind, code, trim = m.group(1), m.group(2), m.group(3)
        if kind == "-":
            # `<%-`: the indentation before the tag goes.
            line_start = static.rfind("\n") + 1
            if not static[line_start:].strip(" \t"):
                static = static[:line_start]
        if emitting():
            out.append(PStr.literal(static, static_start))
        pos = m.end()
        trim_next = trim == "-"
        if kind == "%":
            if emitting():
                out.append(PStr.literal("<%", start))
            pos = start + 3
            trim_next = False
            continue
        if kind == "#":
            continue
        if kind == "=":
            if not emitting():
                continue
            count += 1
            value = _expression_value(code)
            state = "set"
            if value is None:
                after = _TAG.sub("", text[m.end() : m.end() + 80])[:1]
                value = standin(out.text.rsplit("\n", 1)[-1], after, count)
                state = "unknown"
            piece = PStr.at(value, start)
            piece.add_span(
                0,
                len(value),
                Sub(code.strip(), start, m.end(), state, value, "template", "", "template"),
            )
            out.append(piece)
            continue
        word = code.strip()
        if re.match(r"^(end|\})\b", word):
            if stack:
                stack.pop()
            continue
        if re.match(r"^(else|elsif|when)\b", word):
            if stack:
                k, _ = stack[-1]
                stack[-1] = (k, False)
            continue
        if _OPEN.search(word):
            loop = bool(re.search(r"\b(each|each_with_index|map|times|upto|for|while)\b", word))
            stack.append(("loop" if loop else "if", emitting()))
            what = "loop body is checked once" if loop else "only the first branch is checked"
            notes.append(
                Note(
                    start,
                    f"ERB is not executed: `<% {word} %>` — the {what}, "
                    "with stand-ins for its values",
                )
            )
    tail_start = pos + 1 if trim_next and text.startswith("\n", pos) else pos
    if emitting():
        out.append(PStr.literal(text[tail_start:], tail_start))
    if count:
        notes.append(
            Note(
                0,
                f"ERB is not executed: {count} `<%= ... %>` expressions were "
                "replaced by neutral stand-ins; checks that depend on their values "
                "were skipped",
            )
        )
    return TemplateRender(target_name(path), out, notes, exact=True)


def _expression_value(code: str) -> str | None:
    m = _LITERAL.match(code)
    if m is not None:
        return next(g for g in m.groups() if g is not None)
    t = _TERNARY.search(code)
    if t is not None:
        a = t.group(1) if t.group(1) is not None else t.group(2)
        b = t.group(3) if t.group(3) is not None else t.group(4)
        # The branch that adds nothing is the neutral one (`' disabled' : ''`).
        return b if not b else (a if not a else b)
    return None
