"""Rendering Jinja2 (and Ansible) templates with the real jinja2, mapped back to template lines.

The template is rendered twice in a sandbox: once as Ansible would (`trim_blocks`),
which is the config that is checked, and once with invisible markers added to the
template's syntax tree (before every text chunk and around every `{{ ... }}`), which
says for each rendered character which template line produced it and for each
expression what it rendered to. The two renders must agree once the markers are
removed; when they do not (a marker went through a filter that changed it), the
mapping falls back to matching lines by their static text, and says so.
"""

from __future__ import annotations

import base64
import json
import os
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import ChainableUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from lbguard.scripts.rendered import LineIndex, PStr, Sub, standin
from lbguard.scripts.shell import Note
from lbguard.scripts.template import TemplateRender, target_name

_DATA = "\x02"  # \x02<index>\x03: the next text chunk starts at source offset table[index]
_EXPR = "\x04"  # \x04<index>\x05 ... \x06: the output of expression table[index]
_UNDEF = "\x07"  # \x07<name>\x08: an undefined variable was rendered here
_MARKS = re.compile(r"\x02(\d+)\x03|\x04(\d+)\x05|\x06|\x07([^\x08]*)\x08")


class TemplateRenderError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def render_jinja(
    path: str, text: str, variables: Mapping[str, Any] | None, *, strict: bool = False
) -> TemplateRender:
    """Render like Ansible's template module; raises TemplateRenderError with a line.

    With `strict` (and variables given), the template first renders once with Jinja2's
    StrictUndefined, so the first undefined variable is an error at its line.
    """
    standins = variables is None
    if strict and not standins:
        _strict_render(path, text, dict(variables or {}))
    context = _context(path, dict(variables or {}))
    used_stubs: set[str] = set()
    undefined_log: list[str] = []
    plain_env = _environment(marked=False, standins=standins, log=undefined_log, stubs=used_stubs)
    marked_env = _environment(marked=True, standins=standins, log=[], stubs=set())
    name = os.path.basename(path)
    try:
        tree = plain_env.parse(text, name=name)
        plain = plain_env.from_string(tree).render(**context) if not standins else None
        table: list[tuple[int, int, str]] = []
        marked_tree = _mark(marked_env.parse(text, name=name), text, table)
        marked = marked_env.from_string(marked_tree).render(**context)
    except TemplateSyntaxError as exc:
        raise TemplateRenderError(f"Jinja2 syntax error: {exc.message}", exc.lineno) from None
    except (UndefinedError, SecurityError, TemplateError) as exc:
        raise TemplateRenderError(f"Jinja2 error: {exc}", _template_line(exc, name)) from None
    except Exception as exc:  # a filter or test failed on the given values
        message = f"rendering failed: {type(exc).__name__}: {exc}"
        raise TemplateRenderError(message, _template_line(exc, name)) from None
    out, notes = _decode(marked, table, text, standins)
    render = TemplateRender(target_name(path), out, notes)
    if plain is not None and plain != out.text:
        render.text = _approximate(plain, text)
        render.exact = False
        render.notes.append(
            Note(
                0,
                "the template's output could not be mapped exactly to its lines (a filter "
                "rewrote the text); findings point at the closest template line",
            )
        )
    for stub in sorted(used_stubs):
        render.notes.append(
            Note(0, f"Ansible filter '{stub}' is approximated by lbguard, not Ansible's own code")
        )
    if standins:
        render.notes.append(
            Note(
                0,
                "no template variables were given (--vars FILE); variables were replaced by "
                "neutral stand-ins and checks that depend on their values were skipped",
            )
        )
    return render


def _strict_render(path: str, text: str, variables: dict[str, Any]) -> None:
    from jinja2 import StrictUndefined

    env = SandboxedEnvironment(
        trim_blocks=True, undefined=StrictUndefined, keep_trailing_newline=True
    )
    for fname, func in _ansible_filters(set()).items():
        env.filters.setdefault(fname, func)
    name = os.path.basename(path)
    try:
        env.from_string(env.parse(text, name=name)).render(**_context(path, variables))
    except UndefinedError as exc:
        raise TemplateRenderError(
            f"undefined variable (StrictUndefined): {exc}", _template_line(exc, name)
        ) from None
    except Exception:  # reported by the normal render that follows
        return


def _context(path: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Ansible's magic variables, where the template lives in an Ansible layout."""
    hosts_pattern = variables.pop("__play_hosts__", None)
    groups = variables.get("groups")
    hostvars = variables.get("hostvars")
    if isinstance(groups, dict) and isinstance(hostvars, dict):
        members = groups.get(hosts_pattern) if isinstance(hosts_pattern, str) else None
        host = (members or groups.get("all") or [None])[0]
        if host is not None:
            variables.setdefault("inventory_hostname", host)
            for k, v in hostvars.get(host, {}).items():
                variables.setdefault(k, v)
        variables.setdefault("play_hosts", list(members or groups.get("all") or []))
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    if "templates" in parts[:-1]:
        i = len(parts) - 1 - parts[::-1].index("templates")
        rel = "/".join(parts[i:])
        variables.setdefault("ansible_managed", f"Ansible managed: {rel}")
        variables.setdefault("template_path", path)
    return variables


def _environment(
    *, marked: bool, standins: bool, log: list[str], stubs: set[str]
) -> SandboxedEnvironment:
    undefined = _undefined_class(marked, standins, log)
    env = SandboxedEnvironment(trim_blocks=True, undefined=undefined, keep_trailing_newline=True)
    for fname, func in _ansible_filters(stubs).items():
        env.filters.setdefault(fname, func)
    env.tests.setdefault("match", lambda v, p: re.match(p, str(v)) is not None)
    env.tests.setdefault("search", lambda v, p: re.search(p, str(v)) is not None)
    env.tests.setdefault("regex", lambda v, p: re.search(p, str(v)) is not None)
    env.globals.setdefault("lookup", _stub_lookup(stubs))
    env.globals.setdefault("query", _stub_lookup(stubs))
    return env


def _undefined_class(marked: bool, standins: bool, log: list[str]) -> type[ChainableUndefined]:
    class Recording(ChainableUndefined):
        """Renders like plain Jinja2 (empty), but remembers where it was rendered."""

        __slots__ = ()

        def _label(self) -> str:
            name = self._undefined_name or "?"
            obj = self._undefined_obj
            if obj is not None and not isinstance(obj, ChainableUndefined):
                return name
            return name

        def __str__(self) -> str:
            log.append(self._label())
            return f"{_UNDEF}{self._label()}\x08" if marked else ""

        def __iter__(self) -> Iterator[Any]:
            log.append(self._label())
            if standins:
                return iter([Recording(name=self._label())])
            return iter(())

        def __len__(self) -> int:
            return 1 if standins else 0

    return Recording


def _stub_lookup(stubs: set[str]) -> Callable[..., Any]:
    def lookup(*args: Any, **kwargs: Any) -> str:
        stubs.add("lookup")
        return ""

    return lookup


def _ansible_filters(stubs: set[str]) -> dict[str, Callable[..., Any]]:
    def stub(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            stubs.add(name)
            return func(*args, **kwargs)

        return wrapped

    def to_bool(value: Any) -> bool:
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t")

    def mandatory(value: Any, msg: str | None = None) -> Any:
        if isinstance(value, ChainableUndefined):
            raise UndefinedError(
                msg or f"Mandatory variable '{value._undefined_name}' not defined."
            )
        return value

    def regex_replace(
        value: Any,
        pattern: str = "",
        replacement: str = "",
        ignorecase: bool = False,
        multiline: bool = False,
    ) -> str:
        flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
        return re.sub(pattern, replacement.replace("\\g<", "\\g<"), str(value), flags=flags)

    def regex_search(value: Any, pattern: str, *args: Any, **kwargs: Any) -> Any:
        m = re.search(pattern, str(value))
        return m.group(0) if m else None

    def ipaddr(value: Any, query: str = "") -> Any:
        text = str(value)
        ok = re.fullmatch(r"[0-9.]+(/\d+)?|[0-9A-Fa-f:]+(/\d+)?", text) is not None
        if not ok:
            return False
        if query == "address":
            return text.split("/")[0]
        return text

    def ternary(value: Any, a: Any, b: Any, none_val: Any = None) -> Any:
        if value is None and none_val is not None:
            return none_val
        return a if value else b

    def combine(*dicts: Any, **kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in dicts:
            out.update(d)
        return out

    return {
        "to_json": lambda v, **kw: json.dumps(v, **{k: x for k, x in kw.items() if k == "indent"}),
        "to_nice_json": lambda v, indent=4, **kw: json.dumps(v, indent=indent, sort_keys=True),
        "from_json": lambda v: json.loads(v),
        "to_yaml": stub("to_yaml", lambda v, **kw: json.dumps(v)),
        "to_nice_yaml": stub("to_nice_yaml", lambda v, **kw: json.dumps(v, indent=2)),
        "bool": to_bool,
        "mandatory": mandatory,
        "regex_replace": regex_replace,
        "regex_search": regex_search,
        "regex_findall": lambda v, p, **kw: re.findall(p, str(v)),
        "ipaddr": stub("ipaddr", ipaddr),
        "ipv4": stub("ipv4", ipaddr),
        "ipv6": stub("ipv6", ipaddr),
        "ansible.utils.ipaddr": stub("ipaddr", ipaddr),
        "ternary": ternary,
        "quote": lambda v: "'" + str(v).replace("'", "'\"'\"'") + "'",
        "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
        "b64decode": lambda v: base64.b64decode(str(v)).decode(errors="replace"),
        "basename": lambda v: os.path.basename(str(v)),
        "dirname": lambda v: os.path.dirname(str(v)),
        "combine": combine,
        "dict2items": lambda d: [{"key": k, "value": v} for k, v in d.items()],
        "items2dict": lambda items: {i["key"]: i["value"] for i in items},
        "flatten": lambda v: [x for sub in v for x in (sub if isinstance(sub, list) else [sub])],
        "union": lambda a, b: list(dict.fromkeys(list(a) + list(b))),
        "difference": lambda a, b: [x for x in a if x not in b],
        "intersect": lambda a, b: [x for x in a if x in b],
        "json_query": stub("json_query", lambda v, q: v),
        "password_hash": stub("password_hash", lambda v, *a, **k: "$6$standin$"),
        "hash": stub("hash", lambda v, *a: "0" * 40),
        "comment": stub(
            "comment", lambda v, *a, **k: "\n".join("# " + x for x in str(v).split("\n"))
        ),
    }


def _template_line(exc: BaseException, name: str) -> int:
    line = getattr(exc, "lineno", None)
    if isinstance(line, int):
        return line
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if os.path.basename(frame.filename) in (name, "<template>") and frame.lineno:
            return frame.lineno
    return 1


# ----------------------------------------------------------------------- markers


def _mark(tree: nodes.Template, source: str, table: list[tuple[int, int, str]]) -> nodes.Template:
    """Insert data and expression markers into every Output node of the syntax tree.

    `table` receives, per marker index, (source offset, kind, label): kind 0 for a text
    chunk, 1 for an expression.
    """
    index = LineIndex(source)
    lines = source.split("\n")
    cursor: dict[int, int] = {}
    for output in tree.find_all(nodes.Output):
        new_nodes: list[nodes.Expr] = []
        for child in output.nodes:
            line = child.lineno
            if isinstance(child, nodes.TemplateData):
                new_nodes.append(nodes.TemplateData(_mark_data(child, lines, index, cursor, table)))
                continue
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            col = text.find("{{", cursor.get(line, 0))
            if col < 0:
                col = max(text.find("{{"), 0)
            end = text.find("}}", col)
            cursor[line] = end + 2 if end >= 0 else col
            table.append((index.offset(line, col + 1), 1, _label(child)))
            new_nodes.append(nodes.TemplateData(f"{_EXPR}{len(table) - 1}\x05"))
            new_nodes.append(child)
            new_nodes.append(nodes.TemplateData("\x06"))
        output.nodes = new_nodes
    return tree


def _mark_data(
    child: nodes.TemplateData,
    lines: list[str],
    index: LineIndex,
    cursor: dict[int, int],
    table: list[tuple[int, int, str]],
) -> str:
    data = child.data
    chunks = data.split("\n")
    out: list[str] = []
    for k, chunk in enumerate(chunks):
        line = child.lineno + k
        if line > len(lines):
            line = len(lines)
        text = lines[line - 1] if lines else ""
        if k == 0:
            col = text.find(chunk, cursor.get(line, 0)) if chunk else cursor.get(line, len(text))
            if col < 0:
                col = max(text.find(chunk), 0)
        else:
            col = 0
        cursor[line] = col + len(chunk)
        table.append((index.offset(line, min(col, len(text)) + 1), 0, ""))
        out.append(f"{_DATA}{len(table) - 1}\x03{chunk}")
    return "\n".join(out)


def _label(node: nodes.Node) -> str:
    """A readable name for an expression: `b.host`, `hostvars[host]['ansible_host']`."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_label(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        arg = node.arg
        key = repr(arg.value) if isinstance(arg, nodes.Const) else _label(arg)
        return f"{_label(node.node)}[{key}]"
    if isinstance(node, nodes.Filter):
        return f"{_label(node.node) if node.node is not None else ''} | {node.name}"
    if isinstance(node, nodes.Const):
        return repr(node.value)
    return type(node).__name__.lower()


def _decode(
    marked: str, table: list[tuple[int, int, str]], source: str, standins: bool
) -> tuple[PStr, list[Note]]:
    out = PStr()
    notes: list[Note] = []
    origin = 0
    expr_stack: list[tuple[int, int, bool, str]] = []  # (table index, start, undefined, name)
    pos = 0
    count = 0
    for m in _MARKS.finditer(marked):
        chunk = marked[pos : m.start()]
        if chunk:
            if expr_stack:
                out.append(PStr.at(chunk, table[expr_stack[-1][0]][0]))
            else:
                out.append(PStr.literal(chunk, origin))
                origin += len(chunk)
        pos = m.end()
        if m.group(1) is not None:
            origin = table[int(m.group(1))][0]
        elif m.group(2) is not None:
            expr_stack.append((int(m.group(2)), len(out), False, ""))
        elif m.group(3) is not None:
            if expr_stack:
                i, start, _, _ = expr_stack[-1]
                expr_stack[-1] = (i, start, True, m.group(3))
            if standins:
                count += 1
                after = _MARKS.sub("", marked[m.end() : m.end() + 80])[:1]
                value = standin(_tail(out.text), after, count)
                where = table[expr_stack[-1][0]][0] if expr_stack else origin
                out.append(PStr.at(value, where))
        elif expr_stack:
            i, start, undefined, name = expr_stack.pop()
            offset, _, label = table[i]
            value = out.text[start:]
            if undefined:
                state = "unknown" if standins else "unset"
            else:
                state = "set" if value else "empty"
            sub = Sub(name or label, offset, offset + 2, state, value, "template", "", "template")
            out.add_span(start, len(out), sub)
    tail = marked[pos:]
    if tail:
        out.append(PStr.literal(tail, origin))
    del source
    return out, notes


def _tail(text: str) -> str:
    return text.rsplit("\n", 1)[-1]


def _approximate(plain: str, source: str) -> PStr:
    """Map each rendered line to the template line whose static text it shares most."""
    src_lines = source.split("\n")
    index = LineIndex(source)
    static = [re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", line).strip() for line in src_lines]
    out = PStr()
    hint = 0
    for k, line in enumerate(plain.split("\n")):
        best, best_score = hint, -1
        for j in range(hint, min(len(src_lines), hint + 200)):
            words = static[j].split()
            score = sum(1 for w in words if w in line)
            if score > best_score:
                best, best_score = j, score
        if k:
            out.append(PStr.at("\n", index.offset(best + 1)))
        out.append(PStr.at(line, index.offset(best + 1)))
        hint = best
    return out
