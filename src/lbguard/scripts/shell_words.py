"""Pure helpers of shell word expansion and `test`: no state, no interpreter.

Pattern removal (`${X%%.*}`), substitution (`${X//a/b}`), brace expansion
(`web{1..3}`) and `[ ... ]` evaluation are computed here exactly as bash does, on
plain strings, so they can be tested (and reasoned about) on their own.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Container, Mapping

from lbguard.scripts.rendered import PStr
from lbguard.scripts.shell_ast import Lit, Node, Part, Seq, Simple, Word
from lbguard.scripts.shell_model import MAX_ITERATIONS, Output


def trim(value: PStr, pattern: str, op: str) -> PStr:
    t = value.text
    n = len(t)
    if op in ("#", "##"):
        rng = range(n + 1) if op == "#" else range(n, -1, -1)
        for i in rng:
            if fnmatch.fnmatchcase(t[:i], pattern):
                return value.slice(i)
        return value
    rng = range(n, -1, -1) if op == "%" else range(n + 1)
    for i in rng:
        if fnmatch.fnmatchcase(t[i:], pattern):
            return value.slice(0, i)
    return value


def replace_pattern(text: str, pattern: str, repl: str, op: str) -> str:
    regex = fnmatch.translate(pattern).removesuffix(r"\Z").removeprefix("(?s:")
    if regex.endswith(")"):
        regex = regex[:-1]
    if op == "/#":
        return re.sub("^(?:" + regex + ")", lambda _m: repl, text, count=1)
    if op == "/%":
        return re.sub("(?:" + regex + ")$", lambda _m: repl, text, count=1)
    return re.sub(regex, lambda _m: repl, text, count=0 if op == "//" else 1)


def brace_expand(text: str) -> list[str]:
    """`web{1..3}` and `{a,b}` as bash expands them (one level at a time)."""
    m = re.search(r"\{(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?\}", text)
    c = _comma_brace(text)
    if m is not None and (c is None or m.start() <= c[0]):
        lo, hi = int(m.group(1)), int(m.group(2))
        step = abs(int(m.group(3))) if m.group(3) else 1
        step = step or 1
        width = (
            max(len(m.group(1)), len(m.group(2)))
            if re.match(r"-?0\d", m.group(1)) or re.match(r"-?0\d", m.group(2))
            else 0
        )
        seq = range(lo, hi + 1, step) if hi >= lo else range(lo, hi - 1, -step)
        out: list[str] = []
        for v in list(seq)[:MAX_ITERATIONS]:
            piece = str(v).zfill(width) if width else str(v)
            out.extend(brace_expand(text[: m.start()] + piece + text[m.end() :]))
        return out
    if c is not None:
        start, end, options = c
        out = []
        for opt in options:
            out.extend(brace_expand(text[:start] + opt + text[end:]))
        return out
    return [text]


def _comma_brace(text: str) -> tuple[int, int, list[str]] | None:
    for start, ch in enumerate(text):
        if ch != "{" or (start and text[start - 1] == "$"):
            continue
        depth = 0
        parts: list[str] = []
        last = start + 1
        for j in range(start, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    parts.append(text[last:j])
                    if len(parts) > 1:
                        return start, j + 1, parts
                    break
            elif text[j] == "," and depth == 1:
                parts.append(text[last:j])
                last = j + 1
    return None


def evaluate_test(
    args: list[PStr], variables: Container[str], files: Mapping[str, Output], *, double: bool
) -> int | None:
    """`[ ... ]`, `test` and `[[ ... ]]`; None when an operand is unknown."""
    if any(s.sub.standin for a in args for s in a.spans):
        return None
    words = [a.text for a in args]
    try:
        result = _TestEval(words, variables, files, double).run()
    except _Undecidable:
        return None
    except (IndexError, ValueError):
        return 2
    return 0 if result else 1


class _Undecidable(Exception):
    pass


class _TestEval:
    def __init__(
        self, words: list[str], variables: Container[str], files: Mapping[str, Output], double: bool
    ) -> None:
        self.w = words
        self.i = 0
        self.variables = variables
        self.files = files
        self.double = double

    def run(self) -> bool:
        if not self.w:
            return False
        value = self.or_()
        if self.i != len(self.w):
            raise ValueError("extra words")
        return value

    def or_(self) -> bool:
        value = self.and_()
        while self.i < len(self.w) and self.w[self.i] in ("-o", "||"):
            self.i += 1
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> bool:
        value = self.not_()
        while self.i < len(self.w) and self.w[self.i] in ("-a", "&&"):
            self.i += 1
            right = self.not_()
            value = value and right
        return value

    def not_(self) -> bool:
        if self.i < len(self.w) and self.w[self.i] == "!" and self.i + 1 < len(self.w):
            self.i += 1
            return not self.not_()
        return self.primary()

    def primary(self) -> bool:
        w = self.w
        i = self.i
        if w[i] == "(":
            self.i += 1
            value = self.or_()
            self.i += 1
            return value
        if i + 2 < len(w) + 0 and i + 2 <= len(w) - 1 and w[i + 1] in _BINARY_TESTS:
            left, op, right = w[i], w[i + 1], w[i + 2]
            self.i += 3
            return _binary_test(left, op, right)
        if w[i] in _UNARY_TESTS and i + 1 < len(w):
            op, operand = w[i], w[i + 1]
            self.i += 2
            if op == "-z":
                return operand == ""
            if op == "-n":
                return operand != ""
            if op in ("-v",):
                return operand in self.variables
            if operand in self.files and op in ("-e", "-f", "-s", "-r"):
                return op != "-s" or bool(self.files[operand].data.text)
            raise _Undecidable
        self.i += 1
        return w[i] != ""


_UNARY_TESTS = frozenset(
    [
        "-z",
        "-n",
        "-e",
        "-f",
        "-d",
        "-r",
        "-w",
        "-x",
        "-s",
        "-L",
        "-h",
        "-b",
        "-c",
        "-p",
        "-S",
        "-t",
        "-v",
        "-g",
        "-u",
        "-k",
        "-O",
        "-G",
        "-N",
    ]
)
_BINARY_TESTS = frozenset(
    ["=", "==", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "=~", "<", ">", "-nt", "-ot", "-ef"]
)


def _binary_test(left: str, op: str, right: str) -> bool:
    if op in ("=", "=="):
        return fnmatch.fnmatchcase(left, right) if any(c in right for c in "*?[") else left == right
    if op == "!=":
        return left != right
    if op == "=~":
        return re.search(right, left) is not None
    if op in ("<", ">"):
        return left < right if op == "<" else left > right
    if op in ("-nt", "-ot", "-ef"):
        raise _Undecidable
    a, b = int(left.strip() or "0"), int(right.strip() or "0")
    return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b, "-ge": a >= b}[
        op
    ]


def last_line(text: str) -> str:
    return text.rsplit("\n", 1)[-1]


def assignment_word(word: Word) -> tuple[str, bool, Word] | None:
    if not word.parts or not isinstance(word.parts[0], Lit) or word.parts[0].quoted:
        return None
    first = word.parts[0]
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(\+?)=", first.text)
    if m is None:
        return None
    rest: list[Part] = []
    tail = first.text[m.end() :]
    if tail:
        rest.append(Lit(tail, first.offset + m.end(), False))
    rest.extend(word.parts[1:])
    return m.group(1), bool(m.group(2)), Word(rest, first.offset + m.end(), word.end)


def exits(node: Node) -> bool:
    """Whether a branch ends the script (`exit 1`, `return`), so skipping it is safe."""
    items = node.items if isinstance(node, Seq) else [node]
    for item in items:
        if isinstance(item, Simple) and item.words:
            first = item.words[0].literal()
            if first in ("exit", "return", "die", "fail", "abort"):
                return True
    return False


def cond_offset(node: Node) -> int:
    if isinstance(node, Seq):
        return node.items[0].offset if node.items else node.offset
    return node.offset
