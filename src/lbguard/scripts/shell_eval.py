"""The shell interpreter's core: expansion, control flow, redirections and simple commands.

Builtins and the pure commands lbguard emulates (echo, printf, cat, tee, envsubst,
seq...) live in `shell_builtins.py`; everything else a script calls is recorded, not run.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping

from lbguard.scripts import arith
from lbguard.scripts.rendered import PStr, Span, Sub, join, standin
from lbguard.scripts.shell_ast import (
    AndOr,
    Arith,
    ArithCmd,
    ArithFor,
    Assign,
    Case,
    CmdSub,
    For,
    FuncDef,
    Group,
    HereDoc,
    If,
    Lit,
    Node,
    Param,
    Part,
    Pipeline,
    Redir,
    Seq,
    Simple,
    While,
    Word,
)
from lbguard.scripts.shell_model import (
    BALANCERS,
    MAX_DEPTH,
    MAX_ITERATIONS,
    NAME_RE,
    QUIET,
    BreakLoop,
    EnvsubstCall,
    ExitScript,
    Note,
    Output,
    Reload,
    ReturnFromFunction,
    Sink,
    Validation,
    Var,
)
from lbguard.scripts.shell_parse import NAME
from lbguard.scripts.shell_words import (
    brace_expand,
    cond_offset,
    evaluate_test,
    exits,
    last_line,
    replace_pattern,
    trim,
)
from lbguard.util import is_digits


class Evaluator:
    """The interpreter without its builtins (see shell_builtins.py)."""

    def __init__(
        self,
        path: str,
        text: str,
        env: Mapping[str, str],
        pinned: frozenset[str],
        labels: Mapping[str, str],
        shell: str,
    ) -> None:
        self.path = path
        self.text = text
        self.shell = shell
        self.vars: dict[str, Var] = {
            k: Var(PStr.literal(v, -1), origin=labels.get(k, "the environment"), exported=True)
            for k, v in env.items()
        }
        self.pinned = pinned
        self.positional: list[PStr] = []
        self.funcs: dict[str, Node] = {}
        self.files: dict[str, Output] = {}
        self.stdout = PStr()
        self.notes: list[Note] = []
        self.reloads: list[Reload] = []
        self.validations: list[Validation] = []
        self.envsubst_calls: list[EnvsubstCall] = []
        self.referenced: set[str] = set()
        self.errexit = False
        self.nounset = False
        self.nounset_seen = False
        self.allexport = False
        self.status: int | None = 0
        self.cond_depth = 0
        self.impure = 0
        self.depth = 0
        self.standins = 0
        self.pending_validation: Validation | None = None
        self.top = Sink("stdout")
        self.exec_out: Sink | None = None
        self._noted: set[tuple[int, str]] = set()

    # ------------------------------------------------------------------ utils

    def note(self, offset: int, message: str, severity: str = "info") -> None:
        key = (offset, message)
        if key not in self._noted:
            self._noted.add(key)
            self.notes.append(Note(offset, message, severity))

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, max(offset, 0)) + 1

    def source(self, start: int, end: int) -> str:
        return self.text[start:end] if 0 <= start < end <= len(self.text) else ""

    def write(self, sink: Sink, data: PStr) -> None:
        if sink.kind == "file":
            self.files[sink.target].data.append(data)
        elif sink.kind == "capture":
            sink.buf.append(data)
        elif sink.kind == "stdout":
            self.stdout.append(data)

    def open_file(self, target: str, append: bool, offset: int) -> Sink:
        if target in ("/dev/null", "/dev/stderr", "/dev/tty"):
            return Sink("null")
        if not target:
            self.note(
                offset,
                "the redirection target expands to nothing; the shell would "
                "fail with 'ambiguous redirect' here",
                "warning",
            )
            return Sink("null")
        if not append or target not in self.files:
            previous = self.files.pop(target, None)
            self.files[target] = Output(target, previous.offset if previous and append else offset)
        return Sink("file", target)

    def assign(self, name: str, var: Var) -> None:
        if name in self.pinned and name in self.vars:
            return
        old = self.vars.get(name)
        if (old is not None and old.exported) or self.allexport:
            var.exported = True
        self.vars[name] = var

    def lookup_text(self, name: str) -> str | None:
        var = self.vars.get(name)
        if var is None:
            return None
        if var.unknown:
            return None
        return var.value.text

    # ------------------------------------------------------------------ expansion

    def expand_str(self, word: Word, before: str = "") -> PStr:
        out = PStr()
        for i, part in enumerate(word.parts):
            nxt = word.parts[i + 1] if i + 1 < len(word.parts) else None
            after = nxt.text if isinstance(nxt, Lit) else ""
            out.append(self.expand_part(part, before + last_line(out.text), after))
        return out

    def expand_fields(self, word: Word, before: str = "") -> list[PStr]:
        plain = word.literal() if not word.quoted else None
        if plain is not None and "{" in plain:
            expanded = brace_expand(plain)
            if len(expanded) > 1:
                return [PStr.at(t, word.offset) for t in expanded]
        if len(word.parts) == 1 and isinstance(word.parts[0], Param):
            p = word.parts[0]
            if p.name == "@" and p.quoted and not p.op:
                return [a.copy() for a in self.positional]
            if p.quoted and p.index is not None and p.index.literal() == "@" and not p.op:
                var = self.vars.get(p.name)
                if var is not None and var.items is not None:
                    self.referenced.add(p.name)
                    return [self._located(v, p.offset) for v in var.items]
        fields: list[PStr] = []
        cur = PStr()
        have = False
        acc = ""
        for i, part in enumerate(word.parts):
            nxt = word.parts[i + 1] if i + 1 < len(word.parts) else None
            after = nxt.text if isinstance(nxt, Lit) else ""
            seg = self.expand_part(part, before + acc, after)
            acc += seg.text
            splittable = not isinstance(part, Lit) and not part.quoted
            if not splittable:
                cur.append(seg)
                if seg.text or part.quoted:
                    have = True
                continue
            if not seg.text:
                cur.append(seg)
                continue
            pos = 0
            for m in re.finditer(r"[^ \t\n]+", seg.text):
                if m.start() > pos and have:
                    fields.append(cur)
                    cur = PStr()
                    have = False
                cur.append(seg.slice(m.start(), m.end()))
                have = True
                pos = m.end()
            if pos < len(seg.text) and have:
                fields.append(cur)
                cur = PStr()
                have = False
        if have:
            fields.append(cur)
        return fields

    def expand_words(self, words: list[Word]) -> list[PStr]:
        out: list[PStr] = []
        before = ""
        for word in words:
            fields = self.expand_fields(word, before)
            out.extend(fields)
            before += " ".join(f.text for f in fields) + " "
        return out

    def expand_part(self, part: Part, before: str, after: str) -> PStr:
        if isinstance(part, Lit):
            if part.offsets is not None:
                return PStr(
                    part.text,
                    list(part.offsets[: len(part.text)])
                    + [part.offset] * max(0, len(part.text) - len(part.offsets)),
                )
            return PStr.literal(part.text, part.offset)
        if isinstance(part, Param):
            return self.param(part, before, after)
        if isinstance(part, CmdSub):
            return self.command_substitution(part, before, after)
        return self.arithmetic(part, before, after)

    def _located(self, value: PStr, offset: int) -> PStr:
        """A variable's value placed at the reference: one-line values point at `$X`.

        Multi-line values (a `servers` list built in a loop) keep the lines they were
        written at, so each rendered line maps to the script line that produced it.
        """
        if "\n" not in value.text:
            return PStr(value.text, [offset] * len(value.text), list(value.spans))
        return PStr(value.text, [o if o >= 0 else offset for o in value.origins], list(value.spans))

    def _standin(self, before: str, after: str) -> str:
        self.standins += 1
        return standin(before, after, self.standins)

    def param(self, p: Param, before: str, after: str) -> PStr:
        name = p.name
        self.referenced.add(name)
        if name == "?" and self.pending_validation is not None:
            self.pending_validation.checked = True
        var = self._param_var(p)
        state = "set"
        origin = var.origin if var is not None else ""
        command = var.unknown if var is not None else ""
        if var is None:
            state = "unset"
        elif var.unknown:
            state = "unknown"
        elif not var.value.text:
            state = "empty"
        value = var.value if var is not None and not var.unknown else PStr()
        if p.length:
            if state == "unknown":
                return self._make(p, "unknown", self._standin(before, after), origin, command)
            n = len(var.items) if var is not None and var.items is not None and p.index else None
            return self._make(p, "set", str(n if n is not None else len(value.text)), origin)
        op = p.op
        missing = state in ("unset", "empty")
        if op in (":-", "-", ":=", "="):
            use_default = (state == "unset") if op in ("-", "=") else missing
            if use_default:
                default = self.expand_str(p.word, before) if p.word else PStr()
                if op in (":=", "="):
                    self.assign(
                        name, Var(default, origin=f"line {self.line_of(p.offset)}", offset=p.offset)
                    )
                st = "set" if default.text else "empty"
                return self._wrap(p, default, st, f"default at line {self.line_of(p.offset)}")
        elif op in (":?", "?"):
            if (state == "unset") if op == "?" else missing:
                return self._make(p, "guarded", self._standin(before, after), origin)
        elif op in (":+", "+"):
            present = state != "unset" if op == "+" else not missing
            alt = self.expand_str(p.word, before) if p.word and present else PStr()
            return self._wrap(p, alt, "set", origin)
        if state == "unknown":
            return self._make(p, "unknown", self._standin(before, after), origin, command)
        if state == "unset" and self.nounset and name not in "@*#?$!-" and not is_digits(name):
            self.nounset_seen = True
            return self._make(p, "guarded", self._standin(before, after), origin)
        if op in ("#", "##", "%", "%%") and p.word is not None:
            pattern = self.expand_str(p.word).text
            value = trim(value, pattern, op)
        elif op.startswith("/") and p.word is not None:
            pattern = self.expand_str(p.word).text
            repl = self.expand_str(p.word2).text if p.word2 else ""
            value = PStr.at(replace_pattern(value.text, pattern, repl, op), p.offset)
        elif op == ":" and p.word is not None:
            value = self._substring(value, p)
        elif op in ("^^", "^", ",,", ","):
            t = value.text
            t = {
                "^^": t.upper(),
                ",,": t.lower(),
                "^": t[:1].upper() + t[1:],
                ",": t[:1].lower() + t[1:],
            }[op]
            value = PStr(t, value.origins, value.spans)
        return self._wrap(p, value, state, origin)

    def _param_var(self, p: Param) -> Var | None:
        name = p.name
        if is_digits(name):
            idx = int(name)
            if idx == 0:
                return Var(PStr.literal(self.path, -1), origin="$0")
            if idx <= len(self.positional):
                return Var(self.positional[idx - 1], origin="argument")
            return None
        if name in ("@", "*"):
            return Var(join(self.positional, PStr.at(" ", p.offset)), origin="arguments")
        if name == "#":
            return Var(PStr.at(str(len(self.positional)), p.offset), origin="arguments")
        if name == "?":
            if self.status is None:
                return Var(PStr(), unknown="the previous command's exit status")
            return Var(PStr.at(str(self.status), p.offset))
        if name in "$!-":
            return Var(PStr(), unknown=f"${name}")
        var = self.vars.get(name)
        if p.indirect and var is not None:
            target = var.value.text
            var = self.vars.get(target) if NAME.fullmatch(target) else None
        if var is not None and var.items is not None:
            index = p.index.literal() if p.index is not None else "0"
            if index in ("@", "*"):
                return Var(
                    join(var.items, PStr.at(" ", p.offset)), origin=var.origin, items=var.items
                )
            try:
                i = arith.evaluate(index or "0", self.lookup_text, self._arith_assign)
            except (arith.Unknown, arith.ArithError):
                return Var(PStr(), unknown=f"${{{name}[{index}]}}")
            if 0 <= i < len(var.items):
                return Var(var.items[i], origin=var.origin)
            return None
        if var is not None and p.index is not None and p.index.literal() not in ("0", "@", "*"):
            return None
        return var

    def _substring(self, value: PStr, p: Param) -> PStr:
        try:
            start = arith.evaluate(
                self.expand_str(p.word).text if p.word else "0",
                self.lookup_text,
                self._arith_assign,
            )
            length = None
            if p.word2 is not None:
                length = arith.evaluate(
                    self.expand_str(p.word2).text, self.lookup_text, self._arith_assign
                )
        except (arith.Unknown, arith.ArithError):
            return value
        n = len(value.text)
        if start < 0:
            start = max(n + start, 0)
        end = n if length is None else (start + length if length >= 0 else n + length)
        return value.slice(min(start, n), max(min(end, n), min(start, n)))

    def _make(self, p: Param, state: str, text: str, origin: str, command: str = "") -> PStr:
        out = PStr.at(text, p.offset)
        sub = Sub(p.name, p.offset, p.end, state, text, origin, command)
        out.add_span(0, len(text), sub)
        return out

    def _wrap(self, p: Param, value: PStr, state: str, origin: str) -> PStr:
        out = self._located(value, p.offset)
        if state == "set" and not value.text:
            state = "empty"
        out.spans.append(
            Span(0, len(out.text), Sub(p.name, p.offset, p.end, state, value.text, origin))
        )
        return out

    def command_substitution(self, part: CmdSub, before: str, after: str) -> PStr:
        label = f"$({part.text.strip()})"
        if part.body is None:
            return self._unknown_sub(part, label, before, after)
        sink = Sink("capture")
        impure = self.impure
        saved = (dict(self.vars), list(self.positional), self.status, self.errexit)
        try:
            self.run(part.body, None, sink)
        except (ExitScript, ReturnFromFunction, BreakLoop):
            pass
        finally:
            self.vars, self.positional, self.status, self.errexit = saved
        if self.impure != impure:
            return self._unknown_sub(part, label, before, after)
        value = sink.buf.strip_trailing_newlines()
        out = self._located(value, part.offset)
        state = "set" if value.text else "empty"
        out.add_span(0, len(out.text), Sub(label, part.offset, part.end, state, value.text))
        return out

    def _unknown_sub(self, part: CmdSub, label: str, before: str, after: str) -> PStr:
        text = self._standin(before, after)
        out = PStr.at(text, part.offset)
        out.add_span(
            0, len(text), Sub(label, part.offset, part.end, "unknown", text, "", part.text.strip())
        )
        return out

    def _arith_assign(self, name: str, value: int) -> None:
        self.assign(name, Var(PStr.literal(str(value), -1), origin="arithmetic"))

    def arithmetic(self, part: Arith, before: str, after: str) -> PStr:
        expr = self._expand_arith_text(part.expr, part.offset)
        try:
            value = arith.evaluate(expr, self.lookup_text, self._arith_assign)
        except arith.Unknown as exc:
            text = self._standin(before, after)
            out = PStr.at(text, part.offset)
            out.add_span(
                0,
                len(text),
                Sub(
                    f"$(({part.expr}))",
                    part.offset,
                    part.end,
                    "unknown",
                    text,
                    "",
                    f"$(({part.expr})) uses {exc}",
                ),
            )
            return out
        except arith.ArithError as exc:
            self.note(part.offset, f"arithmetic error in $(({part.expr})): {exc}", "warning")
            return PStr()
        return PStr.at(str(value), part.offset)

    def _expand_arith_text(self, expr: str, offset: int) -> str:
        if "$(" not in expr and "`" not in expr and "${" not in expr:
            return expr
        from lbguard.scripts.shell_parse import Parser

        try:
            word_parts = Parser(expr, offset)._read_quoted_text(None, "$`\\")
        except Exception:
            return expr
        return self.expand_str(Word(word_parts, offset, offset)).text

    def heredoc(self, doc: HereDoc) -> PStr:
        if doc.quoted:
            body = self.expand_str(doc.body)
            for m in NAME_RE.finditer(body.text):
                origin = body.origins[m.start()] if m.start() < len(body.origins) else -1
                body.add_span(
                    m.start(),
                    m.end(),
                    Sub(
                        m.group(2),
                        origin,
                        origin + len(m.group(0)),
                        "literal",
                        m.group(0),
                        "",
                        "",
                        "literal",
                        doc.offset,
                    ),
                )
            return body
        return self.expand_str(doc.body)

    # ------------------------------------------------------------------ running

    def run(self, node: Node, stdin: PStr | None, out: Sink) -> int | None:
        if isinstance(node, Seq):
            status: int | None = 0
            for item in node.items:
                if self.exec_out is not None and out is self.top:
                    out = self.exec_out
                status = self.run(item, stdin, out)
                self.status = status
                if self.errexit and status not in (0, None) and self.cond_depth == 0:
                    raise ExitScript(status)
            return status
        if isinstance(node, Simple):
            return self.simple(node, stdin, out)
        if isinstance(node, AndOr):
            return self.and_or(node, stdin, out)
        if isinstance(node, Pipeline):
            return self.pipeline(node, stdin, out)
        if isinstance(node, Group):
            sink, stdin = self.redirect(node.redirs, stdin, out)
            if node.subshell:
                saved = (dict(self.vars), list(self.positional), self.errexit, self.nounset)
                try:
                    return self.run(node.body, stdin, sink)
                except ExitScript as exc:
                    return exc.status
                finally:
                    self.vars, self.positional, self.errexit, self.nounset = saved
            return self.run(node.body, stdin, sink)
        if isinstance(node, For):
            return self.for_loop(node, stdin, out)
        if isinstance(node, ArithFor):
            return self.arith_for(node, stdin, out)
        if isinstance(node, If):
            return self.if_(node, stdin, out)
        if isinstance(node, While):
            return self.while_(node, stdin, out)
        if isinstance(node, Case):
            return self.case(node, stdin, out)
        if isinstance(node, FuncDef):
            self.funcs[node.name] = node.body
            return 0
        if isinstance(node, ArithCmd):
            return self.arith_command(node.expr, node.offset)
        return self.test_words(node.words, double=True)

    def condition(self, node: Node, stdin: PStr | None, out: Sink) -> int | None:
        self.cond_depth += 1
        try:
            return self.run(node, stdin, out)
        finally:
            self.cond_depth -= 1

    def and_or(self, node: AndOr, stdin: PStr | None, out: Sink) -> int | None:
        items = [node.first] + [n for _, n in node.rest]
        ops = [op for op, _ in node.rest]
        status = self.condition(items[0], stdin, out)
        for i, op in enumerate(ops):
            nxt = items[i + 1]
            last = i == len(ops) - 1
            run_it = (status == 0 or status is None) if op == "&&" else (status not in (0, None))
            if run_it:
                status = self.run(nxt, stdin, out) if last else self.condition(nxt, stdin, out)
        return status

    def pipeline(self, node: Pipeline, stdin: PStr | None, out: Sink) -> int | None:
        data = stdin
        status: int | None = 0
        if node.negate:
            self.cond_depth += 1
        try:
            for i, cmd in enumerate(node.commands):
                if i == len(node.commands) - 1:
                    status = self.run(cmd, data, out)
                else:
                    sink = Sink("capture")
                    impure = self.impure
                    self.run(cmd, data, sink)
                    data = sink.buf if self.impure == impure else None
        finally:
            if node.negate:
                self.cond_depth -= 1
        if node.negate and status is not None:
            return 1 if status == 0 else 0
        return status

    def redirect(
        self, redirs: list[Redir], stdin: PStr | None, out: Sink
    ) -> tuple[Sink, PStr | None]:
        sink = out
        for r in redirs:
            if r.heredoc is not None:
                stdin = self.heredoc(r.heredoc)
                if not r.heredoc.closed:
                    self.note(
                        r.offset,
                        f"heredoc '{r.heredoc.delimiter}' is never closed: the "
                        "shell reads to the end of the file (and warns)",
                        "warning",
                    )
                continue
            assert r.target is not None
            target = self.expand_str(r.target).text
            if r.op == "<<<":
                stdin = self.expand_str(r.target) + PStr.at("\n", r.offset)
            elif r.op == "<":
                known = self.files.get(target)
                stdin = known.data.copy() if known is not None else None
                if known is None:
                    self.impure += 1
            elif r.op in (">&", "<&") or r.op == "<>":
                if r.op == ">&" and (r.fd in (None, 1)) and target == "2":
                    sink = Sink("null")
                elif (
                    r.op == ">&"
                    and r.fd in (None, 1)
                    and target not in ("1", "-")
                    and not is_digits(target)
                ):
                    sink = self.open_file(target, False, r.offset)
            elif r.fd in (None, 1) or r.op in ("&>", "&>>"):
                sink = self.open_file(target, r.op in (">>", "&>>"), r.offset)
        return sink, stdin

    def for_loop(self, node: For, stdin: PStr | None, out: Sink) -> int | None:
        sink, stdin = self.redirect(node.redirs, stdin, out)
        if node.words is None:
            values = [v.copy() for v in self.positional]
        else:
            values = self.expand_words(node.words)
        spec = " ".join(self.source(w.offset, w.end) for w in node.words or [])
        blockers = [s.sub for v in values for s in v.spans if s.sub.standin]
        if blockers:
            why = blockers[0].command or blockers[0].name
            self.note(
                node.offset,
                f"the loop over '{spec}' cannot be unrolled without running "
                f"the script (it depends on {why}); what it writes was not checked",
            )
            return None
        if not values and node.words:
            empty = [s.sub for w in node.words for s in self.expand_str(w).spans if s.sub.missing]
            if empty:
                names = ", ".join(sorted({s.name for s in empty}))
                self.note(
                    node.offset,
                    f"the loop over '{spec}' runs zero times: {names} is empty or unset here",
                    "warning",
                )
        return self._iterate(node.var, values, node.body, sink, stdin, node.offset)

    def _iterate(
        self,
        var: str,
        values: list[PStr],
        body: Node,
        out: Sink,
        stdin: PStr | None,
        offset: int,
    ) -> int | None:
        status: int | None = 0
        for n, value in enumerate(values):
            if n >= MAX_ITERATIONS:
                self.note(offset, f"loop stopped after {MAX_ITERATIONS} iterations")
                break
            self.assign(
                var, Var(value, origin=f"the loop at line {self.line_of(offset)}", offset=offset)
            )
            try:
                status = self.run(body, stdin, out)
            except BreakLoop as exc:
                if exc.levels > 1:
                    raise BreakLoop(exc.levels - 1, exc.cont) from None
                if not exc.cont:
                    break
        return status

    def arith_for(self, node: ArithFor, stdin: PStr | None, out: Sink) -> int | None:
        sink, stdin = self.redirect(node.redirs, stdin, out)
        try:
            arith.evaluate(node.init, self.lookup_text, self._arith_assign)
            status: int | None = 0
            for n in range(MAX_ITERATIONS + 1):
                if node.cond.strip() and not arith.evaluate(
                    node.cond, self.lookup_text, self._arith_assign
                ):
                    break
                if n == MAX_ITERATIONS:
                    self.note(node.offset, f"loop stopped after {MAX_ITERATIONS} iterations")
                    break
                try:
                    status = self.run(node.body, stdin, sink)
                except BreakLoop as exc:
                    if exc.levels > 1:
                        raise BreakLoop(exc.levels - 1, exc.cont) from None
                    if not exc.cont:
                        break
                arith.evaluate(node.step, self.lookup_text, self._arith_assign)
            return status
        except (arith.Unknown, arith.ArithError) as exc:
            self.note(
                node.offset,
                f"the loop 'for ((...))' cannot be unrolled ({exc}); what "
                "it writes was not checked",
            )
            return None

    def if_(self, node: If, stdin: PStr | None, out: Sink) -> int | None:
        sink, stdin = self.redirect(node.redirs, stdin, out)
        for cond, body in node.clauses:
            status = self.condition(cond, stdin, sink)
            if status is None:
                if exits(body):
                    continue
                self.note(
                    cond_offset(cond),
                    "this condition cannot be evaluated without running "
                    "the script; lbguard assumed it is true",
                )
                return self.run(body, stdin, sink)
            if status == 0:
                return self.run(body, stdin, sink)
        if node.else_body is not None:
            return self.run(node.else_body, stdin, sink)
        return 0

    def while_(self, node: While, stdin: PStr | None, out: Sink) -> int | None:
        sink, stdin = self.redirect(node.redirs, stdin, out)
        status: int | None = 0
        for n in range(MAX_ITERATIONS + 1):
            cond = self.condition(node.cond, stdin, sink)
            if cond is None:
                self.note(
                    node.offset,
                    "this loop cannot be unrolled without running the script; "
                    "what it writes was not checked",
                )
                return None
            if (cond == 0) == node.until:
                return status
            if n == MAX_ITERATIONS:
                self.note(node.offset, f"loop stopped after {MAX_ITERATIONS} iterations")
                return status
            try:
                status = self.run(node.body, stdin, sink)
            except BreakLoop as exc:
                if exc.levels > 1:
                    raise BreakLoop(exc.levels - 1, exc.cont) from None
                if not exc.cont:
                    return status
        return status

    def case(self, node: Case, stdin: PStr | None, out: Sink) -> int | None:
        sink, stdin = self.redirect(node.redirs, stdin, out)
        subject = self.expand_str(node.word)
        if any(s.sub.standin for s in subject.spans):
            self.note(
                node.offset,
                "the 'case' word cannot be known without running the script; no branch was checked",
            )
            return None
        for patterns, body in node.items:
            for pat in patterns:
                if fnmatch.fnmatchcase(subject.text, _glob(pat, self)):
                    return self.run(body, stdin, sink) if body is not None else 0
        return 0

    def arith_command(self, expr: str, offset: int) -> int | None:
        try:
            value = arith.evaluate(
                self._expand_arith_text(expr, offset), self.lookup_text, self._arith_assign
            )
        except arith.Unknown:
            return None
        except arith.ArithError as exc:
            self.note(offset, f"arithmetic error in (({expr})): {exc}", "warning")
            return 1
        return 0 if value else 1

    def test_words(self, words: list[Word], double: bool) -> int | None:
        fields = [self.expand_str(w) for w in words]
        return evaluate_test(fields, self.vars, self.files, double=double)

    # ------------------------------------------------------------------ commands

    def simple(self, node: Simple, stdin: PStr | None, out: Sink) -> int | None:
        self.depth += 1
        try:
            return self._simple(node, stdin, out)
        finally:
            self.depth -= 1

    def _simple(self, node: Simple, stdin: PStr | None, out: Sink) -> int | None:
        if not node.words:
            status: int | None = 0
            for a in node.assigns:
                status = self.do_assign(a)
            self.redirect(node.redirs, stdin, out)
            return status
        temp_env = {a.name: self.expand_str(a.value).text for a in node.assigns if a.value}
        fields = self.expand_words(node.words)
        sink, stdin = self.redirect(node.redirs, stdin, out)
        if not fields:
            return 0
        name = fields[0].text
        args = fields[1:]
        texts = [f.text for f in fields]
        self._detect_balancer_commands(node, texts)
        if name in self.funcs:
            return self.call(name, args, stdin, sink, node.offset)
        if name == ":":
            return 0
        method = _ALIASES.get(name, name)
        handler = getattr(self, "cmd_" + method, None) if method.isidentifier() else None
        if handler is not None:
            result: int | None = handler(node, args, stdin, sink, temp_env)
            return result
        if name in QUIET or os.path.basename(name) in QUIET:
            return None if os.path.basename(name) in BALANCERS else 0
        self.impure += 1
        if sink.kind == "file":
            self.note(
                node.offset,
                f"lbguard does not run '{name}'; what it writes to "
                f"{sink.target} is unknown and was not checked",
            )
        return None

    def do_assign(self, a: Assign) -> int | None:
        where = f"line {self.line_of(a.offset)}"
        if a.array is not None:
            items = self.expand_words(a.array)
            old = self.vars.get(a.name)
            if a.append and old is not None and old.items is not None:
                items = old.items + items
            self.assign(
                a.name,
                Var(items[0] if items else PStr(), items=items, origin=where, offset=a.offset),
            )
            return 0
        assert a.value is not None
        impure = self.impure
        value = self.expand_str(a.value, a.name + "=")
        unknown = [s.sub for s in value.spans if s.sub.state == "unknown"]
        if a.index is not None:
            old = self.vars.get(a.name)
            items = list(old.items or [old.value]) if old is not None else []
            try:
                i = arith.evaluate(a.index.literal() or "0", self.lookup_text, self._arith_assign)
            except (arith.Unknown, arith.ArithError):
                return 0
            while len(items) <= i:
                items.append(PStr())
            items[i] = value
            self.assign(a.name, Var(items[0], items=items, origin=where, offset=a.offset))
            return 0
        if a.append:
            old = self.vars.get(a.name)
            if old is not None and not old.unknown:
                value = old.value + value
        if unknown and value.text.strip() != "":
            command = unknown[0].command or unknown[0].name
            self.assign(a.name, Var(value, unknown=command, origin=where, offset=a.offset))
        else:
            self.assign(a.name, Var(value, origin=where, offset=a.offset))
        return 0 if self.impure == impure else None

    def call(
        self, name: str, args: list[PStr], stdin: PStr | None, out: Sink, offset: int
    ) -> int | None:
        if self.depth > MAX_DEPTH:
            self.note(offset, f"function '{name}' recurses too deeply; stopped")
            return None
        saved = self.positional
        self.positional = args
        try:
            return self.run(self.funcs[name], stdin, out)
        except ReturnFromFunction as exc:
            return exc.status
        finally:
            self.positional = saved

    def _detect_balancer_commands(self, node: Simple, texts: list[str]) -> None:
        words = [os.path.basename(t) if i == 0 else t for i, t in enumerate(texts)]
        while words and words[0] in ("sudo", "command", "exec", "nice", "timeout"):
            words = words[1:]
            if words and re.fullmatch(r"\d+[smh]?", words[0]):
                words = words[1:]
        if not words:
            return
        cmd = words[0]
        line = " ".join(texts)
        validate = (
            (cmd == "haproxy" and any(re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", w) for w in words))
            or (cmd == "nginx" and any(re.fullmatch(r"-[a-zA-Z]*t[a-zA-Z]*", w) for w in words))
            or (cmd == "lbguard" and "check" in words)
        )
        if validate:
            checked = self.cond_depth > 0 or self.errexit
            v = Validation(node.offset, line, checked)
            self.validations.append(v)
            self.pending_validation = None if checked else v
            return
        balancer = ""
        if (
            cmd == "systemctl"
            and len(words) >= 3
            and words[1]
            in ("reload", "restart", "reload-or-restart", "try-reload-or-restart", "try-restart")
        ):
            balancer = next((b for b in BALANCERS for w in words[2:] if w.startswith(b)), "")
        elif (
            cmd in ("service", "rc-service", "invoke-rc.d")
            and len(words) >= 3
            and words[2] in ("reload", "restart", "force-reload")
        ):
            balancer = next((b for b in BALANCERS if words[1].startswith(b)), "")
        elif cmd in BALANCERS and len(words) >= 2 and words[1] in ("reload", "restart"):
            balancer = cmd
        elif cmd == "nginx" and "-s" in words and words[-1] in ("reload", "reopen"):
            balancer = "nginx"
        elif cmd == "haproxy" and any(w in ("-sf", "-st") for w in words):
            balancer = "haproxy"
        if balancer:
            if self.pending_validation is not None:
                self.pending_validation = None
            validated = any(v.checked for v in self.validations)
            self.reloads.append(Reload(node.offset, node.end, line, balancer, validated))

    # builtins and pure commands ------------------------------------------------


_ALIASES = {".": "source", "[": "test"}


def _glob(word: Word, sh: Evaluator) -> str:
    out: list[str] = []
    for part in word.parts:
        if isinstance(part, Lit):
            out.append(re.sub(r"([\[\]*?])", r"[\1]", part.text) if part.quoted else part.text)
        else:
            out.append(sh.expand_part(part, "", "").text)
    return "".join(out)
