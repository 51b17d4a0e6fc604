"""Evaluation of HAProxy's `.if` / `.elif` conditions (doc/configuration.txt 2.4).

lbguard must take the same branch as the HAProxy that will load the file, or it
would check lines that are never parsed and miss those that are. Features and the
version are those of the Debian 12 build that lbguard's native checks use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from lbguard.util import is_digits

HAPROXY_VERSION = (2, 6, 12)
# `haproxy -vv` "Feature list" entries with a '+' on Debian 12's haproxy 2.6.12.
FEATURES = frozenset(
    [
        "ACCEPT4",
        "BACKTRACE",
        "CPU_AFFINITY",
        "CRYPT_H",
        "DL",
        "EPOLL",
        "GETADDRINFO",
        "LIBCRYPT",
        "LINUX_SPLICE",
        "LINUX_TPROXY",
        "LUA",
        "NETFILTER",
        "NS",
        "OPENSSL",
        "OT",
        "PCRE2",
        "PCRE2_JIT",
        "POLL",
        "PRCTL",
        "PROMEX",
        "RT",
        "SLZ",
        "SYSTEMD",
        "TFO",
        "THREAD",
        "THREAD_DUMP",
        "TPROXY",
    ]
)

_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[A-Za-z_][A-Za-z0-9_]*\([^)]*\)|[^\s()!&|]+)")


class ConditionError(ValueError):
    pass


def _version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in re.split(r"[.-]", text.strip()):
        if is_digits(piece):
            parts.append(int(piece))
        else:
            break
    return tuple(parts + [0] * (3 - len(parts)))


def _split_args(inner: str) -> list[str]:
    return [a.strip().strip('"').strip("'") for a in inner.split(",")]


def _predicate(token: str, env: Mapping[str, str]) -> bool:
    if is_digits(token):
        return int(token) != 0
    m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", token)
    if m is None:
        # Any other non-empty word: HAProxy treats a bare string as a number.
        raise ConditionError(f"unparsable condition term '{token}'")
    name, inner = m.group(1), m.group(2)
    args = _split_args(inner)
    if name == "defined":
        return args[0] in env
    if name == "feature":
        return args[0] in FEATURES
    if name == "streq":
        return len(args) == 2 and args[0] == args[1]
    if name == "strneq":
        return len(args) == 2 and args[0] != args[1]
    if name == "version_atleast":
        return _version(args[0]) <= HAPROXY_VERSION
    if name == "version_before":
        return _version(args[0]) > HAPROXY_VERSION
    if name == "enabled":
        return True
    raise ConditionError(f"unknown predicate '{name}'")


class _Parser:
    def __init__(self, tokens: list[str], env: Mapping[str, str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.env = env

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expr(self) -> bool:
        value = self.term_and()
        while self.peek() == "||":
            self.take()
            rhs = self.term_and()
            value = value or rhs
        return value

    def term_and(self) -> bool:
        value = self.unary()
        while self.peek() == "&&":
            self.take()
            rhs = self.unary()
            value = value and rhs
        return value

    def unary(self) -> bool:
        tok = self.peek()
        if tok is None:
            raise ConditionError("missing term at end of condition")
        if tok == "!":
            self.take()
            return not self.unary()
        if tok == "(":
            self.take()
            value = self.expr()
            if self.peek() != ")":
                raise ConditionError("missing ')'")
            self.take()
            return value
        return _predicate(self.take(), self.env)


def evaluate_condition(words: Sequence[str], env: Mapping[str, str]) -> tuple[bool, str | None]:
    """Return (value, error). An empty condition is false, as in HAProxy."""
    text = " ".join(words).strip()
    if not text:
        return False, None
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    parser = _Parser(tokens, env)
    try:
        value = parser.expr()
        if parser.peek() is not None:
            raise ConditionError(f"unexpected '{parser.peek()}'")
    except ConditionError as exc:
        return False, str(exc)
    return value, None
