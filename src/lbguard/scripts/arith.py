"""Shell arithmetic (`$((...))`, `((...))`, `for ((;;))`) without eval.

Counters such as `i=$((i + 1))` number the servers a script writes, so they must be
computed exactly as bash does: 64-bit integers, C precedence, division truncating
toward zero. An expression that reads an unknown variable yields None.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lbguard.util import is_digits

_TOKEN = re.compile(
    r"\s*(0[xX][0-9a-fA-F]+|\d+#[0-9a-zA-Z@_]+|\d+|[A-Za-z_][A-Za-z0-9_]*|\$\{?[A-Za-z_0-9]+\}?|"
    r"\*\*=?|<<=|>>=|\+\+|--|&&|\|\||==|!=|<=|>=|<<|>>|[-+*/%&|^]=|[-+*/%<>=!~&|^?:(),])"
)
_BINARY = {
    ",": 1,
    "||": 4,
    "&&": 5,
    "|": 6,
    "^": 7,
    "&": 8,
    "==": 9,
    "!=": 9,
    "<": 10,
    "<=": 10,
    ">": 10,
    ">=": 10,
    "<<": 11,
    ">>": 11,
    "+": 12,
    "-": 12,
    "*": 13,
    "/": 13,
    "%": 13,
    "**": 14,
}
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^="})


class Unknown(Exception):
    """The expression depends on a value lbguard does not know."""


class ArithError(Exception):
    pass


def _wrap(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _tokens(expr: str) -> list[str]:
    out: list[str] = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            raise ArithError(f"syntax error in expression near '{expr[pos : pos + 10]}'")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Eval:
    def __init__(
        self,
        tokens: list[str],
        lookup: Callable[[str], str | None],
        assign: Callable[[str, int], None],
    ) -> None:
        self.t = tokens
        self.i = 0
        self.lookup = lookup
        self.assign = assign

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ArithError("unexpected end of expression")
        self.i += 1
        return tok

    def var(self, name: str) -> int:
        value = self.lookup(name)
        if value is None:
            raise Unknown(name)
        value = value.strip()
        if not value:
            return 0
        if re.fullmatch(r"[-+]?\d+", value):
            return int(value)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            return self.var(value)
        return evaluate(value, self.lookup, self.assign)

    def expr(self, min_prec: int = 0) -> int:
        left = self.unary()
        while True:
            op = self.peek()
            if op == "?" and min_prec <= 2:
                self.take()
                a = self.expr(0)
                if self.take() != ":":
                    raise ArithError("expected ':' in conditional expression")
                b = self.expr(2)
                left = a if left else b
                continue
            if op is None or op not in _BINARY or _BINARY[op] < min_prec:
                return left
            prec = _BINARY[op]
            self.take()
            right = self.expr(prec if op == "**" else prec + 1)
            left = _wrap(_apply(op, left, right))

    def unary(self) -> int:
        tok = self.take()
        if tok in ("-", "+", "!", "~"):
            v = self.unary()
            return {"-": -v, "+": v, "!": int(not v), "~": ~v}[tok]
        if tok in ("++", "--"):
            name = self.take()
            v = self.var(name) + (1 if tok == "++" else -1)
            self.assign(name, v)
            return v
        if tok == "(":
            v = self.expr(0)
            if self.take() != ")":
                raise ArithError("expected ')'")
            return v
        if re.fullmatch(r"\$\{?[A-Za-z_0-9]+\}?", tok):
            return self.var(tok.strip("${}"))
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            nxt = self.peek()
            if nxt in _ASSIGN_OPS:
                self.take()
                value = self.expr(2)
                if nxt != "=":
                    value = _wrap(_apply(nxt[:-1], self.var(tok), value))
                self.assign(tok, value)
                return value
            if nxt in ("++", "--"):
                self.take()
                v = self.var(tok)
                self.assign(tok, v + (1 if nxt == "++" else -1))
                return v
            return self.var(tok)
        return _number(tok)


def _number(tok: str) -> int:
    if tok.lower().startswith("0x"):
        return int(tok, 16)
    if "#" in tok:
        base, digits = tok.split("#", 1)
        return int(digits, int(base))
    if len(tok) > 1 and tok.startswith("0"):
        return int(tok, 8)
    if is_digits(tok):
        return int(tok)
    raise ArithError(f"unexpected '{tok}'")


def _apply(op: str, a: int, b: int) -> int:
    if op in ("/", "%"):
        if b == 0:
            raise ArithError("division by 0")
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
        return q if op == "/" else a - q * b
    if op == "**":
        if b < 0:
            raise ArithError("exponent less than 0")
        return pow(a, b, 1 << 64)
    ops: dict[str, Callable[[int, int], int]] = {
        ",": lambda x, y: y,
        "||": lambda x, y: int(bool(x) or bool(y)),
        "&&": lambda x, y: int(bool(x) and bool(y)),
        "|": lambda x, y: x | y,
        "^": lambda x, y: x ^ y,
        "&": lambda x, y: x & y,
        "==": lambda x, y: int(x == y),
        "!=": lambda x, y: int(x != y),
        "<": lambda x, y: int(x < y),
        "<=": lambda x, y: int(x <= y),
        ">": lambda x, y: int(x > y),
        ">=": lambda x, y: int(x >= y),
        "<<": lambda x, y: x << (y & 63),
        ">>": lambda x, y: x >> (y & 63),
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "*": lambda x, y: x * y,
    }
    return ops[op](a, b)


def evaluate(
    expr: str, lookup: Callable[[str], str | None], assign: Callable[[str, int], None]
) -> int:
    """The value of `expr`; raises Unknown or ArithError."""
    tokens = _tokens(expr)
    if not tokens:
        return 0
    ev = _Eval(tokens, lookup, assign)
    value = ev.expr(0)
    if ev.i != len(tokens):
        raise ArithError(f"syntax error near '{tokens[ev.i]}'")
    return _wrap(value)
