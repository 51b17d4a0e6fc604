"""Shell builtins and the pure commands lbguard emulates instead of running.

`echo`, `printf`, `cat`, `tee`, `envsubst`, `seq`, `basename` only transform text,
so their output is computed exactly; `set`, `export`, `read`, `exit`... change the
interpreter's state. Everything else is unknown to lbguard and is never executed.
"""

from __future__ import annotations

import os
import re

from lbguard.scripts.printf import Stop, printf, unescape
from lbguard.scripts.rendered import PStr, Sub, join
from lbguard.scripts.shell_ast import Assign, Simple
from lbguard.scripts.shell_eval import Evaluator
from lbguard.scripts.shell_model import (
    MAX_ITERATIONS,
    NAME_RE,
    BreakLoop,
    EnvsubstCall,
    ExitScript,
    Output,
    ReturnFromFunction,
    Sink,
    Var,
)
from lbguard.scripts.shell_parse import NAME
from lbguard.scripts.shell_words import assignment_word, evaluate_test
from lbguard.util import is_digits


class Shell(Evaluator):
    """The interpreter with its builtins: `cmd_NAME` handles the command NAME."""

    def cmd_echo(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        newline = True
        escapes = self.shell == "sh"
        while args and re.fullmatch(r"-[neE]+", args[0].text):
            if self.shell == "sh" and args[0].text != "-n":
                break
            for c in args[0].text[1:]:
                if c == "n":
                    newline = False
                elif c == "e":
                    escapes = True
                else:
                    escapes = False
            args = args[1:]
        text = join(args, PStr.at(" ", node.offset))
        stopped = False
        if escapes:
            try:
                text = unescape(text, in_b=True)
            except Stop:
                stopped = True
                cut = text.text.find("\\c")
                text = unescape(text.slice(0, cut), in_b=True)
        if newline and not stopped:
            end = node.words[-1].end if node.words else node.end
            text.append(PStr.at("\n", end))
        self.write(out, text)
        return 0

    def cmd_printf(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        target = None
        if args and args[0].text == "-v" and len(args) >= 2:
            target = args[1].text
            args = args[2:]
        if args and args[0].text == "--":
            args = args[1:]
        if not args:
            return 2
        text = printf(args[0], args[1:])
        if target is not None:
            self.assign(target, Var(text, origin=f"line {self.line_of(node.offset)}"))
        else:
            self.write(out, text)
        return 0

    def cmd_cat(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        names = [a.text for a in args if not re.fullmatch(r"-[A-Za-z]+", a.text)] or ["-"]
        for name in names:
            if name == "-":
                if stdin is None:
                    return self._unknown_input(node, out, "its input")
                self.write(out, stdin)
            elif name in self.files:
                self.write(out, self.files[name].data.copy())
            else:
                return self._unknown_input(node, out, name)
        return 0

    def _unknown_input(self, node: Simple, out: Sink, what: str) -> int | None:
        self.impure += 1
        if out.kind == "file":
            self.note(
                node.offset,
                f"lbguard cannot know the content of {what}; what this "
                f"line writes to {out.target} was not checked",
            )
        return None

    def cmd_tee(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        append = any(a.text in ("-a", "--append") for a in args)
        targets = [a.text for a in args if not a.text.startswith("-")]
        sinks = [self.open_file(t, append, node.offset) for t in targets]
        if stdin is None:
            for s in sinks:
                self._unknown_input(node, s, "its input")
            return None
        for s in sinks:
            self.write(s, stdin)
        self.write(out, stdin)
        return 0

    def cmd_envsubst(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        formats = [a.text for a in args if not a.text.startswith("-")]
        names = (
            frozenset(m.group(2) for f in formats for m in NAME_RE.finditer(f)) if formats else None
        )
        self.envsubst_calls.append(EnvsubstCall(node.offset, names))
        if stdin is None:
            return self._unknown_input(node, out, "its input")
        result = PStr()
        pos = 0
        for m in NAME_RE.finditer(stdin.text):
            name = m.group(2)
            if names is not None and name not in names:
                continue
            result.append(stdin.slice(pos, m.start()))
            origin = stdin.origins[m.start()] if m.start() < len(stdin.origins) else -1
            var = self.vars.get(name)
            if name in env:
                value, state, src = env[name], "set" if env[name] else "empty", "the command line"
            elif var is not None and var.exported and not var.unknown:
                value, state, src = var.value.text, "set" if var.value.text else "empty", var.origin
            elif var is not None and var.exported:
                value, state, src = self._standin("", ""), "unknown", var.origin
            else:
                value, state = "", "unset"
                src = "not exported" if var is not None else ""
            piece = PStr.at(value, origin)
            piece.add_span(
                0,
                len(value),
                Sub(
                    name,
                    origin,
                    origin + len(m.group(0)),
                    state,
                    value,
                    src,
                    "",
                    "envsubst",
                    node.offset,
                ),
            )
            result.append(piece)
            pos = m.end()
        result.append(stdin.slice(pos))
        self.write(out, result)
        return 0

    def cmd_seq(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        sep = "\n"
        nums: list[str] = []
        it = iter(a.text for a in args)
        for a in it:
            if a == "-s":
                sep = next(it, "\n")
            elif re.fullmatch(r"-?\d+", a):
                nums.append(a)
            else:
                self.impure += 1
                return None
        values = [int(n) for n in nums]
        if not 1 <= len(values) <= 3:
            return 1
        lo, step, hi = (
            (1, 1, values[0])
            if len(values) == 1
            else ((values[0], 1, values[1]) if len(values) == 2 else tuple(values))
        )
        if step == 0:
            return 1
        seq = [str(v) for v in range(lo, hi + (1 if step > 0 else -1), step)][:MAX_ITERATIONS]
        if seq:
            self.write(out, PStr.at(sep.join(seq) + "\n", node.offset))
        return 0

    def cmd_basename(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        if not args:
            return 1
        name = os.path.basename(args[0].text.rstrip("/")) or "/"
        if len(args) > 1 and name.endswith(args[1].text) and name != args[1].text:
            name = name[: -len(args[1].text)]
        self.write(out, PStr.at(name + "\n", node.offset))
        return 0

    def cmd_dirname(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        if not args:
            return 1
        self.write(
            out, PStr.at((os.path.dirname(args[0].text.rstrip("/")) or ".") + "\n", node.offset)
        )
        return 0

    def cmd_true(self, *_: object) -> int | None:
        return 0

    def cmd_false(self, *_: object) -> int | None:
        return 1

    def cmd_exit(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        if not args:
            raise ExitScript(self.status)
        code = _number(args[0].text)
        # bash: "numeric argument required", and the script ends with status 2.
        raise ExitScript(2 if code is None else code & 255)

    def cmd_return(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        if not args:
            raise ReturnFromFunction(self.status)
        code = _number(args[0].text)
        raise ReturnFromFunction(2 if code is None else code & 255)

    def cmd_break(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        raise BreakLoop(_loop_levels(args), False)

    def cmd_continue(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        raise BreakLoop(_loop_levels(args), True)

    def cmd_set(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        texts = [a.text for a in args]
        i = 0
        while i < len(texts):
            t = texts[i]
            if t == "--":
                self.positional = args[i + 1 :]
                return 0
            if t in ("-o", "+o") and i + 1 < len(texts):
                on = t == "-o"
                opt = texts[i + 1]
                if opt == "errexit":
                    self.errexit = on
                elif opt == "nounset":
                    self.nounset = on
                elif opt == "allexport":
                    self.allexport = on
                i += 2
                continue
            if re.fullmatch(r"[-+][a-zA-Z]+", t):
                on = t[0] == "-"
                for c in t[1:]:
                    if c == "e":
                        self.errexit = on
                    elif c == "u":
                        self.nounset = on
                    elif c == "a":
                        self.allexport = on
                i += 1
                continue
            self.positional = args[i:]
            return 0
        return 0

    def cmd_shift(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        n = _number(args[0].text) if args else 1
        # bash leaves the parameters alone, with status 1, for a bad or too large count.
        if n is None or n < 0 or n > len(self.positional):
            return 1
        self.positional = self.positional[n:]
        return 0

    def cmd_unset(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        for a in args:
            if not a.text.startswith("-") and a.text not in self.pinned:
                self.vars.pop(a.text, None)
                self.funcs.pop(a.text, None)
        return 0

    def cmd_export(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        name = self.source(node.words[0].offset, node.words[0].end)
        export = name == "export" or any(a.text.startswith("-") and "x" in a.text for a in args)
        for word in node.words[1:]:
            split = assignment_word(word)
            if split is not None:
                var_name, append, value_word = split
                self.do_assign(Assign(var_name, append, value_word, None, word.offset))
                if export and var_name in self.vars:
                    self.vars[var_name].exported = True
                continue
            for f in self.expand_fields(word):
                if f.text.startswith(("-", "+")):
                    continue
                var = self.vars.get(f.text)
                if var is None and name in ("local", "declare", "typeset"):
                    continue
                if export:
                    if var is None:
                        self.referenced.add(f.text)
                    else:
                        var.exported = True
        return 0

    cmd_readonly = cmd_export
    cmd_local = cmd_export
    cmd_declare = cmd_export
    cmd_typeset = cmd_export

    def cmd_read(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        for a in args:
            if NAME.fullmatch(a.text):
                self.assign(
                    a.text, Var(PStr(), unknown="read", origin=f"line {self.line_of(node.offset)}")
                )
        return None

    def cmd_source(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        what = args[0].text if args else "?"
        self.note(
            node.offset,
            f"lbguard does not read '{what}'; variables it sets are not known "
            "here (pass them with --env FILE or --var NAME=VALUE)",
        )
        return None

    def cmd_eval(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        self.impure += 1
        self.note(node.offset, "lbguard does not evaluate 'eval'; what it does was not checked")
        return None

    def cmd_let(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        status: int | None = 1
        for a in args:
            status = self.arith_command(a.text, node.offset)
        return status

    def cmd_mv(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        return self._copy(args, move=True)

    def cmd_cp(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        return self._copy(args, move=False)

    def _copy(self, args: list[PStr], move: bool) -> int | None:
        names = [a.text for a in args if not a.text.startswith("-")]
        if len(names) != 2 or names[0] not in self.files:
            return 0
        src, dst = names
        output = self.files.pop(src) if move else self.files[src]
        if dst.endswith("/"):
            dst += os.path.basename(src)
        self.files[dst] = Output(dst, output.offset, output.data.copy())
        return 0

    def cmd_test(
        self,
        node: Simple,
        args: list[PStr],
        stdin: PStr | None,
        out: Sink,
        env: dict[str, str],
    ) -> int | None:
        words = list(args)
        if node.words and self.source(node.words[0].offset, node.words[0].end) == "[":
            if not words or words[-1].text != "]":
                return 2
            words = words[:-1]
        return evaluate_test(words, self.vars, self.files, double=False)


def _number(text: str) -> int | None:
    """A builtin's numeric argument as bash reads it (optional sign, ASCII digits), or None."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return int(text) if is_digits(digits) else None


def _loop_levels(args: list[PStr]) -> int:
    """How many loops `break N` / `continue N` leaves; a bad N ends the script, as in bash."""
    if not args:
        return 1
    levels = _number(args[0].text)
    if levels is None:
        raise ExitScript(128)  # "numeric argument required" is fatal to a script
    return max(levels, 1)
