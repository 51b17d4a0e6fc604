"""nginx config tokenizer that splits words exactly as ``ngx_conf_read_token`` does.

Why not a simpler split on whitespace: nginx's rules have corners that change what a
config means, and a linter that tokenizes differently reports the wrong lines or misses
errors nginx will raise:

* an unquoted word ends only at space, tab, CR, LF, ``;`` or ``{`` (a ``}`` or a quote
  inside a word is an ordinary character: ``foo}`` is one word);
* ``{`` right after ``$`` belongs to the word (``${var}``);
* a backslash makes the next character ordinary (even a newline); when the word is
  stored, ``\\"`` ``\\'`` ``\\\\`` become the bare character and ``\\t`` ``\\r`` ``\\n``
  become TAB, CR and LF; any other ``\\x`` is kept as the two characters;
* after a closing quote the next character must be whitespace, ``;``, ``{`` or ``)``;
  anything else is nginx's 'unexpected "X"' error;
* ``#`` starts a comment only where a word could start.

The lexer works on decoded text (see ``nginx.read_config_text`` for how bytes that are
not UTF-8 are handled) and reports 1-based lines and columns in characters. It never
raises on bad input: problems come back as ``LexError`` values so that the parser can
report every one of them in a single run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Token kinds.
WORD = 0  # an unquoted word
QWORD = 1  # a quoted word (value without the quotes)
SEMI = 2
LBRACE = 3
RBRACE = 4
COMMENT = 5  # value is the text after '#'
# A whole one-line statement of plain words (the common case, e.g. ``server a:80
# weight=2;``) is one token, so that big generated configs cost one regex match per
# line: value is the words as written, `extra` the column of its ';' or '{'.
SIMPLE_SEMI = 6
SIMPLE_BLOCK = 7

# Plain words: no whitespace, no ; { } # quote or backslash, and no "${" (nginx keeps
# the '{' of "${" inside the word, which the fast path does not model).
_C = r"""[^\s;{}#"'\\$]"""
# Unambiguous on purpose (each "$" starts a new group, runs are maximal): a nested
# "(?:x+)+" would backtrack exponentially on a long line that is not a simple statement.
_PLAIN = rf"""(?:{_C}|\$(?!\{{)){_C}*(?:\$(?!\{{){_C}*)*"""
# A newline takes the next line's indentation with it: finditer would skip those
# blanks anyway (no token starts with one), but only after trying every alternative
# at each of them, which was half the tokenizer's time on an indented config.
_TOKENS = r"""
      (?P<nl>\n[ \t]*)
    | (?P<comment>\#[^\n]*)
    | "(?P<dq>[^"\\]*(?:\\[\s\S][^"\\]*)*)"
    | '(?P<sq>[^'\\]*(?:\\[\s\S][^'\\]*)*)'
    | (?P<punct>[;{}])
    | (?P<word>(?:[^ \t\r\n;{}\#"'\\$]|\\[\s\S]?|\$\{*)(?:[^ \t\r\n;{\\$]+|\\[\s\S]?|\$\{*)*)
    | (?P<open>["'])
"""
# Two scanners: FAST also tries a whole one-line statement first; SLOW does not. After
# FAST fails to see a simple statement at a word, the rest of that statement cannot be
# one either, so the tokenizer switches to SLOW until the statement ends (otherwise a
# long line without ';' would be rescanned from every word: quadratic).
_SLOW_RE = re.compile(_TOKENS, re.VERBOSE)
_FAST_RE = re.compile(rf"(?P<simple>{_PLAIN}(?:[ \t]+{_PLAIN})*[ \t]*[;{{])|" + _TOKENS, re.VERBOSE)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
# What may follow a closing quote (ngx_conf_read_token's need_space state).
_AFTER_QUOTE = frozenset(" \t\r\n;{)")


# (kind, value, line, column, extra): plain tuples, because a NamedTuple per token
# costs more than the rest of the tokenizer on a large config.
Token = tuple[int, str, int, int, int]


@dataclass(frozen=True, slots=True)
class LexError:
    """A tokenizer problem at a position; the lexer carries on after it."""

    message: str
    line: int
    column: int


def unescape(raw: str) -> str:
    """Apply nginx's escape rules to a word's raw text."""
    if "\\" not in raw:
        return raw
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw)


_LUA_SCAN_RE = re.compile(
    r"""--\[(=*)\[[\s\S]*?\]\1\]|--[^\n]*|\[(=*)\[[\s\S]*?\]\2\]"""
    r"""|"(?:[^"\\\n]|\\[\s\S])*"|'(?:[^'\\\n]|\\[\s\S])*'|[{}]"""
)


def _skip_lua_block(text: str, pos: int) -> int:
    """Index of the '}' closing a ``*_by_lua_block {`` body that starts at `pos`, or -1.

    The body is Lua, not nginx syntax (lua-nginx-module reads it with its own lexer):
    braces inside Lua strings, long strings and comments do not count.
    """
    depth = 1
    for m in _LUA_SCAN_RE.finditer(text, pos):
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return m.start()
    return -1


def _advance(text: str, start: int, stop: int, line: int, line_start: int) -> tuple[int, int]:
    """Line number and line start after skipping text[start:stop]."""
    count = text.count("\n", start, stop)
    if count:
        return line + count, text.rfind("\n", start, stop) + 1
    return line, line_start


def tokenize(text: str) -> tuple[list[Token], list[LexError]]:
    """Split nginx config text into tokens, collecting errors instead of stopping."""
    tokens: list[Token] = []
    errors: list[LexError] = []
    append = tokens.append
    line = 1
    line_start = 0
    stmt_first = 0  # index in `tokens` of the current statement's first token
    pos = 0
    scanner = _FAST_RE
    while True:
        jumped = False
        finditer = scanner.finditer
        # finditer skips what no alternative matches: exactly spaces, tabs and CRs. It
        # restarts after a Lua block or an unterminated quote, whose text is not tokens.
        for m in finditer(text, pos):
            start = m.start()
            kind = m.lastgroup
            if kind == "simple":
                raw = m.group("simple")
                term = raw[-1]
                append(
                    (
                        SIMPLE_SEMI if term == ";" else SIMPLE_BLOCK,
                        raw[:-1].rstrip(" \t"),
                        line,
                        start - line_start + 1,
                        m.end() - line_start,
                    )
                )
                if term == "{":
                    first = (
                        tokens[stmt_first][1] if stmt_first < len(tokens) - 1 else raw.split()[0]
                    )
                    if first.endswith("_by_lua_block"):
                        close = _skip_lua_block(text, m.end())
                        if close >= 0:
                            # crossplane's shape: the Lua body is the directive's one argument.
                            _, _, stmt_line, stmt_col, _ = tokens.pop()
                            words = raw[:-1].split()
                            offset = 0
                            for word in words:
                                offset = raw.index(word, offset)
                                append((WORD, word, stmt_line, stmt_col + offset, 0))
                                offset += len(word)
                            append((QWORD, text[m.end() : close], line, m.end() - line_start, 0))
                            line, line_start = _advance(text, m.end(), close, line, line_start)
                            append((SEMI, "}", line, close - line_start + 1, 0))
                            pos = close + 1
                            stmt_first = len(tokens)
                            jumped = True
                            break
                stmt_first = len(tokens)
            elif kind == "nl":
                line += 1
                line_start = start + 1
                if scanner is _SLOW_RE:
                    scanner = _FAST_RE
                    pos = m.end()
                    jumped = True
                    break
            elif kind == "word":
                raw = m.group("word")
                if "\\" in raw:
                    append((WORD, unescape(raw), line, start - line_start + 1, 0))
                    nls = raw.count("\n")
                    if nls:
                        line += nls
                        line_start = start + raw.rfind("\n") + 1
                else:
                    append((WORD, raw, line, start - line_start + 1, 0))
                if scanner is _FAST_RE:
                    scanner = _SLOW_RE
                    pos = m.end()
                    jumped = True
                    break
            elif kind == "punct":
                ch = text[start]
                col = start - line_start + 1
                if (
                    ch == "{"
                    and stmt_first < len(tokens)
                    and tokens[stmt_first][0] <= QWORD
                    and tokens[stmt_first][1].endswith("_by_lua_block")
                ):
                    close = _skip_lua_block(text, start + 1)
                    if close >= 0:
                        append((QWORD, text[start + 1 : close], line, col, 0))
                        line, line_start = _advance(text, start + 1, close, line, line_start)
                        append((SEMI, "}", line, close - line_start + 1, 0))
                        pos = close + 1
                        stmt_first = len(tokens)
                        jumped = True
                        break
                append((SEMI if ch == ";" else LBRACE if ch == "{" else RBRACE, ch, line, col, 0))
                stmt_first = len(tokens)
                if scanner is _SLOW_RE:
                    scanner = _FAST_RE
                    pos = m.end()
                    jumped = True
                    break
            elif kind == "comment":
                append((COMMENT, m.group("comment")[1:], line, start - line_start + 1, 0))
                if stmt_first == len(tokens) - 1:
                    stmt_first = len(tokens)
            elif kind == "dq" or kind == "sq":
                raw = m.group(kind)
                append((QWORD, unescape(raw), line, start - line_start + 1, 0))
                nls = raw.count("\n")
                if nls:
                    line += nls
                    line_start = start + 1 + raw.rfind("\n") + 1
                after = m.end()
                if after < len(text) and text[after] not in _AFTER_QUOTE:
                    errors.append(
                        LexError(
                            f'unexpected "{text[after]}" right after a quoted string; '
                            "put a space or ';' after the closing quote",
                            line,
                            after - line_start + 1,
                        )
                    )
            else:  # "open": a quote that is never closed
                quote = text[start]
                col = start - line_start + 1
                errors.append(
                    LexError(
                        f"unterminated {'double' if quote == chr(34) else 'single'}-quoted "
                        f"string: no closing {quote} before end of file",
                        line,
                        col,
                    )
                )
                # nginx reads to end of file looking for the quote; take the rest of the
                # line (up to a ';' or '{' there) as the word, so that the statement
                # ends where the author meant and the following lines are still checked.
                nl = text.find("\n", start + 1)
                stop = len(text) if nl < 0 else nl
                for stopper in ";{":
                    found = text.find(stopper, start + 1, stop)
                    if found >= 0:
                        stop = min(stop, found)
                append((QWORD, unescape(text[start + 1 : stop]), line, col, 0))
                pos = stop
                jumped = True
                break
        if not jumped:
            return tokens, errors
