"""A parser for the shell a config-writing script is written in (POSIX sh plus common bash).

A real parser, not line regexes: heredocs inside `$(...)`, `{ ...; } > FILE` groups,
quotes that span lines and `$'\\n'` all change what the script writes, and a
line-based reader gets each of them subtly wrong. It never evaluates anything; the
tree it builds is walked by `shell.py` without running a command.
"""

from __future__ import annotations

import re

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
    TestCmd,
    While,
    Word,
)

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_META = frozenset(" \t\n;&|<>()")
_PLAIN = re.compile(r"[^\s;&|<>()'\"\\$`]+")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?(\+?)=")
_FUNC = re.compile(r"([A-Za-z_][A-Za-z0-9_.:-]*)[ \t]*\([ \t]*\)")
_REDIR = re.compile(r"(\d*)(&>>|&>|>>|>\||>&|<<<|<<-|<<|<&|<>|>|<)")
_SPECIAL = "@*#?$!-0123456789"
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b"}
_ANSI.update({"f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"})


class ShellSyntaxError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class Parser:
    def __init__(self, text: str, base: int = 0) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.base = base
        self.pending: list[tuple[HereDoc, int]] = []
        self.heredocs: list[HereDoc] = []

    # ------------------------------------------------------------------ helpers

    def off(self, i: int | None = None) -> int:
        return self.base + (self.i if i is None else i)

    def error(self, message: str, i: int | None = None) -> ShellSyntaxError:
        return ShellSyntaxError(message, self.off(i))

    def at(self, token: str) -> bool:
        return self.s.startswith(token, self.i)

    def skip_blanks(self) -> None:
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = self.n if end < 0 else end
            else:
                break

    def newline(self) -> None:
        """Consume a newline and read the bodies of the heredocs opened on its line."""
        self.i += 1
        pending, self.pending = self.pending, []
        for doc, _ in pending:
            self._read_heredoc(doc)

    def skip_separators(self, semicolons: bool = False) -> None:
        while True:
            self.skip_blanks()
            if self.i < self.n and self.s[self.i] == "\n":
                self.newline()
            elif semicolons and self.at(";") and not self.at(";;"):
                self.i += 1
            else:
                return

    def peek_plain(self) -> str | None:
        i = self.i
        while i < self.n and self.s[i] in " \t":
            i += 1
        m = _PLAIN.match(self.s, i)
        if m is None:
            if self.s.startswith("((", i):
                return "(("
            return None
        end = m.end()
        if end < self.n and self.s[end] not in _META:
            return None
        return m.group(0)

    def expect_word(self, word: str) -> None:
        self.skip_separators(semicolons=True)
        if self.peek_plain() != word:
            found = self.peek_plain() or (self.s[self.i] if self.i < self.n else "end of file")
            raise self.error(f"expected '{word}', found '{found}'")
        self.skip_blanks()
        self.i += len(word)

    # ------------------------------------------------------------------ grammar

    def parse(self) -> Node:
        node = self.parse_list(frozenset())
        self.skip_separators(semicolons=True)
        if self.i < self.n:
            raise self.error(f"unexpected '{self.s[self.i]}'")
        if self.pending:
            for doc, _ in self.pending:
                doc.closed = False
            self.pending = []
        return node

    def parse_list(self, stops: frozenset[str], close_paren: bool = False) -> Seq:
        items: list[Node] = []
        start = self.off()
        while True:
            self.skip_separators()
            if self.i >= self.n or self.at(";;") or (close_paren and self.at(")")):
                break
            if self.at(";"):
                self.i += 1
                continue
            word = self.peek_plain()
            if word is not None and word in stops:
                break
            if self.s[self.i] == ")":
                raise self.error("unexpected ')'")
            items.append(self.parse_and_or())
            self.skip_blanks()
            if self.i >= self.n:
                break
            c = self.s[self.i]
            if c == "\n":
                self.newline()
            elif (c == "&" and not self.at("&&")) or (c == ";" and not self.at(";;")):
                self.i += 1
        return Seq(items, start)

    def parse_and_or(self) -> Node:
        start = self.off()
        first = self.parse_pipeline()
        rest: list[tuple[str, Node]] = []
        while True:
            self.skip_blanks()
            if self.at("&&") or self.at("||"):
                op = self.s[self.i : self.i + 2]
                self.i += 2
                self.skip_separators()
                rest.append((op, self.parse_pipeline()))
            else:
                break
        return AndOr(first, rest, start) if rest else first

    def parse_pipeline(self) -> Node:
        start = self.off()
        negate = False
        self.skip_blanks()
        if self.peek_plain() == "!":
            self.skip_blanks()
            self.i += 1
            negate = True
        commands = [self.parse_command()]
        while True:
            self.skip_blanks()
            if self.at("|") and not self.at("||"):
                self.i += 2 if self.at("|&") else 1
                self.skip_separators()
                commands.append(self.parse_command())
            else:
                break
        if len(commands) == 1 and not negate:
            return commands[0]
        return Pipeline(commands, negate, start)

    def parse_command(self) -> Node:
        self.skip_blanks()
        if self.i >= self.n:
            raise self.error("expected a command, found end of file")
        start = self.off()
        if self.at("(("):
            end = _matching_double_paren(self.s, self.i)
            if end < 0:
                raise self.error("unterminated '(('")
            expr = self.s[self.i + 2 : end]
            self.i = end + 2
            return ArithCmd(expr, start)
        if self.at("("):
            self.i += 1
            body = self.parse_list(frozenset(), close_paren=True)
            if not self.at(")"):
                raise self.error("expected ')' to close the subshell")
            self.i += 1
            return Group(body, True, start, self.parse_redirs())
        word = self.peek_plain()
        if word == "{":
            self.skip_blanks()
            self.i += 1
            body = self.parse_list(frozenset({"}"}))
            self.expect_word("}")
            return Group(body, False, start, self.parse_redirs())
        if word == "if":
            return self.parse_if(start)
        if word == "for":
            return self.parse_for(start)
        if word in ("while", "until"):
            self.skip_blanks()
            self.i += len(word)
            cond = self.parse_list(frozenset({"do"}))
            self.expect_word("do")
            body = self.parse_list(frozenset({"done"}))
            self.expect_word("done")
            return While(cond, body, word == "until", start, self.parse_redirs())
        if word == "case":
            return self.parse_case(start)
        if word == "function":
            self.skip_blanks()
            self.i += len(word)
            self.skip_blanks()
            m = NAME.match(self.s, self.i)
            if m is None:
                raise self.error("expected a function name")
            self.i = m.end()
            self.skip_blanks()
            if self.at("()"):
                self.i += 2
            self.skip_separators()
            return FuncDef(m.group(0), self.parse_command(), start)
        if word == "[[":
            return self.parse_test(start)
        m = _FUNC.match(self.s, self.i)
        if m is not None:
            self.i = m.end()
            self.skip_separators()
            return FuncDef(m.group(1), self.parse_command(), start)
        return self.parse_simple(start)

    def parse_redirs(self) -> list[Redir]:
        redirs: list[Redir] = []
        while True:
            self.skip_blanks()
            m = _REDIR.match(self.s, self.i)
            if m is None:
                return redirs
            redirs.append(self.parse_redir(m))

    def parse_redir(self, m: re.Match[str]) -> Redir:
        start = self.off()
        fd = int(m.group(1)) if m.group(1) else None
        op = m.group(2)
        self.i = m.end()
        self.skip_blanks()
        target = self.read_word()
        if target is None:
            raise self.error(f"expected a file name after '{op}'")
        if op in ("<<", "<<-"):
            raw = self.s[target.offset - self.base : target.end - self.base]
            quoted = any(c in raw for c in "'\"\\")
            delim = "".join(_unquote_delimiter(raw))
            doc = HereDoc(delim, quoted, op == "<<-", Word([], 0, 0), True, start)
            self.pending.append((doc, start))
            self.heredocs.append(doc)
            return Redir(op, fd, None, doc, start)
        return Redir(op, fd, target, None, start)

    def parse_simple(self, start: int) -> Node:
        assigns: list[Assign] = []
        words: list[Word] = []
        redirs: list[Redir] = []
        while True:
            self.skip_blanks()
            if self.i >= self.n or self.s[self.i] in "\n;&|)" or self.at("("):
                if self.at("(") and not words and not assigns:
                    raise self.error("unexpected '('")
                break
            m = _REDIR.match(self.s, self.i)
            if m is not None and (m.group(1) == "" or True):
                redirs.append(self.parse_redir(m))
                continue
            if not words:
                a = _ASSIGN.match(self.s, self.i)
                if a is not None:
                    assigns.append(self.parse_assign(a))
                    continue
            word = self.read_word()
            if word is None:
                raise self.error(f"unexpected '{self.s[self.i]}'")
            words.append(word)
        if not words and not assigns and not redirs:
            c = self.s[self.i] if self.i < self.n else "end of file"
            raise self.error(f"expected a command, found '{c}'")
        return Simple(assigns, words, redirs, start, self.off())

    def parse_assign(self, a: re.Match[str]) -> Assign:
        offset = self.off()
        name, index_text, plus = a.group(1), a.group(2), a.group(3)
        index = None
        if index_text:
            index = Word([Lit(index_text[1:-1], self.off(a.start(2) + 1))], offset, offset)
        self.i = a.end()
        if self.at("("):
            self.i += 1
            items: list[Word] = []
            while True:
                self.skip_separators()
                if self.at(")"):
                    self.i += 1
                    break
                if self.i >= self.n:
                    raise self.error("unterminated array assignment", offset - self.base)
                word = self.read_word()
                if word is None:
                    raise self.error(f"unexpected '{self.s[self.i]}' in an array")
                items.append(word)
            return Assign(name, bool(plus), None, items, offset, index)
        value = self.read_word() or Word([], self.off(), self.off())
        return Assign(name, bool(plus), value, None, offset, index)

    def parse_if(self, start: int) -> Node:
        clauses: list[tuple[Node, Node]] = []
        else_body: Node | None = None
        self.skip_blanks()
        self.i += 2
        while True:
            cond = self.parse_list(frozenset({"then"}))
            self.expect_word("then")
            body = self.parse_list(frozenset({"elif", "else", "fi"}))
            clauses.append((cond, body))
            self.skip_separators(semicolons=True)
            word = self.peek_plain()
            self.skip_blanks()
            if word == "elif":
                self.i += 4
                continue
            if word == "else":
                self.i += 4
                else_body = self.parse_list(frozenset({"fi"}))
                self.expect_word("fi")
            elif word == "fi":
                self.i += 2
            else:
                raise self.error("expected 'fi' to close 'if'", start - self.base)
            break
        return If(clauses, else_body, start, self.parse_redirs())

    def parse_for(self, start: int) -> Node:
        self.skip_blanks()
        self.i += 3
        self.skip_blanks()
        if self.at("(("):
            end = _matching_double_paren(self.s, self.i)
            if end < 0:
                raise self.error("unterminated 'for (('")
            parts = self.s[self.i + 2 : end].split(";")
            self.i = end + 2
            if len(parts) != 3:
                raise self.error("expected 'for ((init; condition; step))'")
            self.skip_separators(semicolons=True)
            body = self._loop_body()
            return ArithFor(parts[0], parts[1], parts[2], body, start, self.parse_redirs())
        m = NAME.match(self.s, self.i)
        if m is None:
            raise self.error("expected a variable name after 'for'")
        self.i = m.end()
        self.skip_separators()
        words: list[Word] | None = None
        if self.peek_plain() == "in":
            self.skip_blanks()
            self.i += 2
            words = []
            while True:
                self.skip_blanks()
                if self.i >= self.n or self.s[self.i] in ";\n":
                    break
                word = self.read_word()
                if word is None:
                    raise self.error(f"unexpected '{self.s[self.i]}' in the loop list")
                words.append(word)
        self.skip_separators(semicolons=True)
        body = self._loop_body()
        return For(m.group(0), words, body, start, self.parse_redirs())

    def _loop_body(self) -> Node:
        if self.peek_plain() == "{":
            self.skip_blanks()
            self.i += 1
            body = self.parse_list(frozenset({"}"}))
            self.expect_word("}")
            return body
        self.expect_word("do")
        body = self.parse_list(frozenset({"done"}))
        self.expect_word("done")
        return body

    def parse_case(self, start: int) -> Node:
        self.skip_blanks()
        self.i += 4
        self.skip_blanks()
        word = self.read_word()
        if word is None:
            raise self.error("expected a word after 'case'")
        self.expect_word("in")
        items: list[tuple[list[Word], Node | None]] = []
        while True:
            self.skip_separators()
            if self.peek_plain() == "esac":
                self.skip_blanks()
                self.i += 4
                break
            if self.i >= self.n:
                raise self.error("expected 'esac' to close 'case'", start - self.base)
            if self.at("("):
                self.i += 1
            patterns: list[Word] = []
            while True:
                self.skip_blanks()
                pat = self.read_word()
                if pat is None:
                    raise self.error("expected a pattern in 'case'")
                patterns.append(pat)
                self.skip_blanks()
                if self.at("|"):
                    self.i += 1
                    continue
                if self.at(")"):
                    self.i += 1
                    break
                raise self.error("expected ')' after a 'case' pattern")
            body = self.parse_list(frozenset({"esac"}))
            items.append((patterns, body))
            self.skip_separators()
            for term in (";;&", ";;", ";&"):
                if self.at(term):
                    self.i += len(term)
                    break
        return Case(word, items, start, self.parse_redirs())

    def parse_test(self, start: int) -> Node:
        self.skip_blanks()
        self.i += 2
        words: list[Word] = []
        while True:
            self.skip_blanks()
            if self.i >= self.n or self.at("\n"):
                raise self.error("expected ']]'", start - self.base)
            if self.at("]]"):
                self.i += 2
                break
            for token in ("&&", "||", "(", ")", "<", ">", "!"):
                if self.at(token):
                    words.append(Word([Lit(token, self.off())], self.off(), self.off() + 1))
                    self.i += len(token)
                    break
            else:
                word = self.read_word(test=True)
                if word is None:
                    raise self.error(f"unexpected '{self.s[self.i]}' in '[['")
                words.append(word)
        return TestCmd(words, start)

    # ------------------------------------------------------------------ words

    def read_word(self, test: bool = False) -> Word | None:
        start = self.i
        parts: list[Part] = []
        buf: list[str] = []
        buf_start = self.i
        s = self.s

        def flush() -> None:
            nonlocal buf, buf_start
            if buf:
                parts.append(Lit("".join(buf), self.off(buf_start)))
            buf = []
            buf_start = self.i

        while self.i < self.n:
            c = s[self.i]
            if c in _META:
                if test and c in "()" and buf:
                    pass
                else:
                    break
            if c == "\\":
                if self.i + 1 >= self.n:
                    buf.append(c)
                    self.i += 1
                    continue
                if s[self.i + 1] == "\n":
                    flush()
                    self.i += 2
                    buf_start = self.i
                    continue
                flush()
                parts.append(Lit(s[self.i + 1], self.off(self.i + 1), True))
                self.i += 2
                buf_start = self.i
                continue
            if c == "'":
                flush()
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise self.error("unterminated single quote")
                parts.append(Lit(s[self.i + 1 : end], self.off(self.i + 1), True))
                self.i = end + 1
                buf_start = self.i
                continue
            if c == '"':
                flush()
                self.i += 1
                parts.extend(self.read_double_quoted())
                buf_start = self.i
                continue
            if c == "$" and s.startswith("$'", self.i):
                flush()
                parts.append(self.read_ansi())
                buf_start = self.i
                continue
            if c == "$" and s.startswith('$"', self.i):
                flush()
                self.i += 2
                parts.extend(self.read_double_quoted())
                buf_start = self.i
                continue
            if c in "$`":
                part = self.read_expansion(quoted=False)
                if part is not None:
                    flush_at = self.i
                    self.i = flush_at
                    if buf:
                        parts.append(Lit("".join(buf), self.off(buf_start)))
                        buf = []
                    parts.append(part)
                    buf_start = self.i
                    continue
            buf.append(c)
            self.i += 1
        flush()
        if self.i == start:
            return None
        return Word(parts, self.off(start), self.off())

    def read_double_quoted(self) -> list[Part]:
        """After the opening quote; consumes the closing one."""
        parts = self._read_quoted_text('"', '$`"\\\n')
        if not self.at('"'):
            raise self.error("unterminated double quote")
        self.i += 1
        return parts

    def _read_quoted_text(self, close: str | None, escapable: str) -> list[Part]:
        parts: list[Part] = []
        buf: list[str] = []
        buf_start = self.i
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if close is not None and c == close:
                break
            if c == "\\" and self.i + 1 < self.n and s[self.i + 1] in escapable:
                if buf:
                    parts.append(Lit("".join(buf), self.off(buf_start), True))
                    buf = []
                if s[self.i + 1] != "\n":
                    parts.append(Lit(s[self.i + 1], self.off(self.i + 1), True))
                self.i += 2
                buf_start = self.i
                continue
            if c in "$`":
                save = self.i
                part = self.read_expansion(quoted=True)
                if part is not None:
                    if buf:
                        parts.append(Lit("".join(buf), self.off(buf_start), True))
                        buf = []
                    parts.append(part)
                    buf_start = self.i
                    continue
                self.i = save
            buf.append(c)
            self.i += 1
        if buf:
            parts.append(Lit("".join(buf), self.off(buf_start), True))
        return parts

    def read_ansi(self) -> Lit:
        start = self.i
        self.i += 2
        out: list[str] = []
        offsets: list[int] = []
        s = self.s
        while self.i < self.n and s[self.i] != "'":
            c = s[self.i]
            here = self.off()
            if c == "\\" and self.i + 1 < self.n:
                nxt = s[self.i + 1]
                if nxt in _ANSI:
                    out.append(_ANSI[nxt])
                    self.i += 2
                elif nxt == "x":
                    m = re.match(r"[0-9A-Fa-f]{1,2}", s[self.i + 2 : self.i + 4])
                    out.append(chr(int(m.group(0), 16)) if m else "\\x")
                    self.i += 2 + (len(m.group(0)) if m else 0)
                elif nxt in "01234567":
                    m = re.match(r"[0-7]{1,3}", s[self.i + 1 : self.i + 4])
                    assert m is not None
                    out.append(chr(int(m.group(0), 8)))
                    self.i += 1 + len(m.group(0))
                else:
                    out.append("\\" + nxt)
                    offsets.append(here)
                    self.i += 2
            else:
                out.append(c)
                self.i += 1
            while len(offsets) < len("".join(out)):
                offsets.append(here)
        if self.i >= self.n:
            raise self.error("unterminated $'...' string", start)
        self.i += 1
        return Lit("".join(out), self.off(start), True, offsets)

    def read_expansion(self, quoted: bool) -> Part | None:
        """At `$` or a backtick; None (nothing consumed) when `$` is a plain dollar."""
        s = self.s
        start = self.i
        if s[self.i] == "`":
            end = self.i + 1
            while end < self.n and s[end] != "`":
                end += 2 if s[end] == "\\" else 1
            if end >= self.n:
                raise self.error("unterminated backquote")
            inner = re.sub(r"\\([$`\\])", r"\1", s[self.i + 1 : end])
            self.i = end + 1
            return CmdSub(
                _parse_inner(inner, self.off(start + 1)), inner, self.off(start), self.off(), quoted
            )
        if self.i + 1 >= self.n:
            return None
        nxt = s[self.i + 1]
        if s.startswith("$((", self.i):
            end = _matching_double_paren(s, self.i + 1)
            if end >= 0:
                self.i = end + 2
                return Arith(s[start + 3 : end], self.off(start), self.off(), quoted)
        if nxt == "(":
            self.i += 2
            body = self.parse_list(frozenset(), close_paren=True)
            self.skip_separators()
            if not self.at(")"):
                raise self.error("unterminated '$('", start)
            self.i += 1
            return CmdSub(body, s[start + 2 : self.i - 1], self.off(start), self.off(), quoted)
        if nxt == "{":
            return self.read_braced(quoted)
        m = NAME.match(s, self.i + 1)
        if m is not None:
            self.i = m.end()
            return Param(m.group(0), self.off(start), self.off(), quoted)
        if nxt in _SPECIAL:
            self.i += 2
            return Param(nxt, self.off(start), self.off(), quoted)
        return None

    def read_braced(self, quoted: bool) -> Param:
        s = self.s
        start = self.i
        self.i += 2
        length = indirect = False
        if self.at("#") and not self.at("#}"):
            length = True
            self.i += 1
        elif self.at("!") and not self.at("!}"):
            indirect = True
            self.i += 1
        m = NAME.match(s, self.i)
        if m is not None:
            name = m.group(0)
            self.i = m.end()
        elif self.i < self.n and s[self.i] in _SPECIAL:
            name = s[self.i]
            self.i += 1
            while name.isdigit() and self.i < self.n and s[self.i].isdigit():
                name += s[self.i]
                self.i += 1
        else:
            raise self.error("bad substitution", start)
        index: Word | None = None
        if self.at("["):
            close = s.find("]", self.i)
            if close < 0:
                raise self.error("bad substitution: unterminated '['", start)
            index = Word([Lit(s[self.i + 1 : close], self.off(self.i + 1))], 0, 0)
            self.i = close + 1
        op = ""
        word: Word | None = None
        word2: Word | None = None
        for candidate in (
            ":-",
            ":=",
            ":?",
            ":+",
            "-",
            "=",
            "?",
            "+",
            "##",
            "#",
            "%%",
            "%",
            "//",
            "/#",
            "/%",
            "/",
            "^^",
            "^",
            ",,",
            ",",
            ":",
        ):
            if self.at(candidate):
                op = candidate
                self.i += len(candidate)
                break
        if op:
            if op.startswith("/"):
                word = self._brace_word(quoted, stop="/")
                if self.at("/"):
                    self.i += 1
                    word2 = self._brace_word(quoted)
            elif op == ":":
                word = self._brace_word(quoted, stop=":")
                if self.at(":"):
                    self.i += 1
                    word2 = self._brace_word(quoted)
            else:
                word = self._brace_word(quoted)
        if not self.at("}"):
            raise self.error("bad substitution: missing '}'", start)
        self.i += 1
        return Param(
            name, self.off(start), self.off(), quoted, op, word, index, length, indirect, word2
        )

    def _brace_word(self, quoted: bool, stop: str = "") -> Word:
        start = self.i
        parts: list[Part] = []
        buf: list[str] = []
        buf_start = self.i
        s = self.s
        depth = 0

        def flush() -> None:
            nonlocal buf
            if buf:
                parts.append(Lit("".join(buf), self.off(buf_start), quoted))
            buf = []

        while self.i < self.n:
            c = s[self.i]
            if c == "}" and depth == 0:
                break
            if stop and c in stop and depth == 0:
                break
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            if c == "\\" and self.i + 1 < self.n:
                flush()
                parts.append(Lit(s[self.i + 1], self.off(self.i + 1), True))
                self.i += 2
                buf_start = self.i
                continue
            if c == "'" and not quoted:
                flush()
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise self.error("unterminated single quote")
                parts.append(Lit(s[self.i + 1 : end], self.off(self.i + 1), True))
                self.i = end + 1
                buf_start = self.i
                continue
            if c == '"':
                flush()
                self.i += 1
                parts.extend(self.read_double_quoted())
                buf_start = self.i
                continue
            if c in "$`":
                part = self.read_expansion(quoted)
                if part is not None:
                    flush()
                    parts.append(part)
                    buf_start = self.i
                    continue
            buf.append(c)
            self.i += 1
        flush()
        return Word(parts, self.off(start), self.off())

    # ------------------------------------------------------------------ heredocs

    def _read_heredoc(self, doc: HereDoc) -> None:
        s = self.s
        parts: list[Part] = []
        body_start = self.i
        closed = False
        while self.i < self.n:
            end = s.find("\n", self.i)
            line_end = self.n if end < 0 else end
            line = s[self.i : line_end]
            lead = 0
            if doc.strip_tabs:
                lead = len(line) - len(line.lstrip("\t"))
            if line[lead:] == doc.delimiter:
                self.i = min(line_end + 1, self.n)
                closed = True
                break
            content_start = self.i + lead
            content = line[lead:]
            if doc.quoted:
                parts.append(Lit(content, self.off(content_start), True))
                joined = False
            else:
                sub = Parser(content, self.off(content_start))
                line_parts = sub._read_quoted_text(None, "$`\\")
                joined = content.endswith("\\") and not content.endswith("\\\\")
                if joined and line_parts and isinstance(line_parts[-1], Lit):
                    last = line_parts[-1]
                    if last.text.endswith("\\"):
                        last.text = last.text[:-1]
                parts.extend(line_parts)
            if end < 0:
                self.i = self.n
                if content:
                    parts.append(Lit("\n", self.off(line_end), True))
                break
            if not joined:
                parts.append(Lit("\n", self.off(line_end), True))
            self.i = line_end + 1
        doc.closed = closed
        doc.body = Word(parts, self.off(body_start), self.off())


def _unquote_delimiter(raw: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        elif c in "'\"":
            i += 1
        else:
            out.append(c)
            i += 1
    return out


def _matching_double_paren(s: str, i: int) -> int:
    """Index of the `))` closing the `((` at i, or -1."""
    depth = 0
    j = i
    while j < len(s):
        c = s[j]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j - 1 if s[j - 1] == ")" else -1
        elif c == "\n" and depth <= 0:
            return -1
        j += 1
    return -1


def _parse_inner(text: str, base: int) -> Node | None:
    try:
        return Parser(text, base).parse()
    except ShellSyntaxError:
        return None


def parse_script(text: str) -> tuple[Node, list[HereDoc]]:
    """The script's syntax tree and every heredoc in it; raises ShellSyntaxError."""
    parser = Parser(text)
    node = parser.parse()
    return node, parser.heredocs
