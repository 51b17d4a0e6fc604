"""Go templates (consul-template `*.ctmpl`, `*.tmpl`): static text plus stand-ins.

consul-template fills a config from Consul at run time (`{{ range service "web" }}`),
so there is nothing lbguard could render it with. The static text is kept, every
output action becomes a neutral stand-in, `range` bodies are kept once and only the
first branch of `if`/`with` is kept; each approximation is an info note.
"""

from __future__ import annotations

import re

from lbguard.scripts.rendered import PStr, Sub, standin
from lbguard.scripts.shell import Note
from lbguard.scripts.template import TemplateRender, target_name

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_STRING = re.compile(r'^\s*(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`|(-?\d+))\s*$')


def render_gotmpl(path: str, text: str) -> TemplateRender:
    out = PStr()
    notes: list[Note] = []
    stack: list[bool] = []
    pos = 0
    count = 0
    trim_next = False

    def emitting() -> bool:
        return all(stack)

    for m in _ACTION.finditer(text):
        static_start = pos
        static = text[pos : m.start()]
        if trim_next:
            stripped = static.lstrip()
            static_start += len(static) - len(stripped)
            static = stripped
        if m.group(1):
            static = static.rstrip()
        if emitting():
            out.append(PStr.literal(static, static_start))
        pos = m.end()
        trim_next = bool(m.group(3))
        action = m.group(2).strip()
        if action.startswith("/*"):
            continue
        keyword = action.split(None, 1)[0] if action else ""
        if keyword == "end":
            if stack:
                stack.pop()
            continue
        if keyword == "else":
            if stack:
                stack[-1] = False
            continue
        if keyword in ("range", "if", "with", "define", "block"):
            stack.append(emitting() and keyword not in ("define",))
            what = {
                "range": "the loop body is checked once",
                "if": "only the first branch is checked",
                "with": "only the first branch is checked",
                "define": "the definition is not checked",
                "block": "the block is checked as written",
            }[keyword]
            notes.append(
                Note(
                    m.start(),
                    f"Go template is not executed: `{{{{ {action} }}}}` — "
                    f"{what}, with stand-ins for its values",
                )
            )
            continue
        if keyword == "template" or re.match(r"^\$?\w*\s*:?=", action) or not emitting():
            continue
        count += 1
        lit = _STRING.match(action)
        if lit is not None:
            value = next(g for g in lit.groups() if g is not None)
            state = "set"
        else:
            after = _ACTION.sub("", text[m.end() : m.end() + 80])[:1]
            value = standin(out.text.rsplit("\n", 1)[-1], after, count)
            state = "unknown"
        piece = PStr.at(value, m.start())
        piece.add_span(
            0, len(value), Sub(action, m.start(), m.end(), state, value, "template", "", "template")
        )
        out.append(piece)
    tail = text[pos:]
    tail_start = pos
    if trim_next:
        stripped = tail.lstrip()
        tail_start += len(tail) - len(stripped)
        tail = stripped
    if emitting():
        out.append(PStr.literal(tail, tail_start))
    if count:
        notes.append(
            Note(
                0,
                f"Go template is not executed: {count} actions were replaced by "
                "neutral stand-ins; checks that depend on their values were skipped",
            )
        )
    return TemplateRender(target_name(path), out, notes, exact=True)
