"""HAProxy's line tokenizer, written for its grammar (doc/configuration.txt 2.2 and 2.3).

A generated parser would be far too slow for a 125k-line config; this one takes the
common case (a line with no quote, backslash, hash or dollar) through ``str.split``
and only walks character by character when a line needs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lbguard import speedups

# HAProxy splits at most this many words on a line (MAX_LINE_ARGS); more is an error.
MAX_LINE_ARGS = 64

SPECIAL = re.compile(r"[\"'\\#$]")
_VAR_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")
_HEX = "0123456789abcdefABCDEF"


@dataclass(frozen=True, slots=True)
class Line:
    """One tokenized statement: its words, each word's 1-based column, and problems."""

    lineno: int
    words: tuple[str, ...]
    columns: tuple[int, ...]
    # Words that were written in quotes, by index; an empty quoted word is an argument.
    quoted: frozenset[int] = frozenset()
    errors: tuple[tuple[int, str], ...] = ()
    # (variable name, column) for every ${VAR} that was not set and had no default.
    unresolved: tuple[tuple[str, int], ...] = ()


def split_plain(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    words = tuple(text.split())
    if not words:
        return (), ()
    return words, plain_columns(text, words)


def plain_columns_py(text: str, words: tuple[str, ...]) -> tuple[int, ...]:
    """The 1-based column of each word of a plain line (one `split_plain` cut into `words`).

    `plain_columns` is this, or its C twin in lbguard._speedups when that is built.
    """
    cols = []
    pos = 0
    find = text.find
    for word in words:
        # Only blank space lies between `pos` and the next word, so the first match is it.
        pos = find(word, pos)
        cols.append(pos + 1)
        pos += len(word)
    return tuple(cols)


plain_columns: Callable[[str, tuple[str, ...]], tuple[int, ...]] = (
    plain_columns_py if speedups.native is None else speedups.native.plain_columns
)


def tokenize(
    text: str,
    lineno: int,
    env: Mapping[str, str],
    on_unset: Callable[[str], None] | None = None,
) -> Line:
    """Cut one physical line into words the way HAProxy's parse_line() does."""
    if SPECIAL.search(text) is None:
        words, cols = split_plain(text)
        if len(words) > MAX_LINE_ARGS:
            return Line(lineno, words, cols, errors=(_too_many_words(cols),))
        return Line(lineno, words, cols)
    return _tokenize_slow(text, lineno, env)


def _too_many_words(cols: Sequence[int]) -> tuple[int, str]:
    return cols[MAX_LINE_ARGS], f"too many words, truncating after word {MAX_LINE_ARGS}"


def _tokenize_slow(text: str, lineno: int, env: Mapping[str, str]) -> Line:
    words: list[str] = []
    cols: list[int] = []
    quoted: set[int] = set()
    errors: list[tuple[int, str]] = []
    unresolved: list[tuple[str, int]] = []
    cur: list[str] = []
    in_word = False
    word_col = 0
    word_quoted = False
    quote = ""  # "", "'" or '"'
    quote_col = 0
    i = 0
    n = len(text)

    def end_word() -> None:
        nonlocal in_word, word_quoted
        if in_word:
            if word_quoted:
                quoted.add(len(words))
            words.append("".join(cur))
            cols.append(word_col)
            cur.clear()
        in_word = False
        word_quoted = False

    while i < n:
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                cur.append(c)
            i += 1
            continue
        if quote == "" and c in " \t\r\n\v\f":
            end_word()
            i += 1
            continue
        if quote == "" and c == "#":
            break
        if not in_word:
            in_word = True
            word_col = i + 1
        if c == "\\":
            if i + 1 >= n:
                # A trailing backslash is kept literally by HAProxy.
                cur.append(c)
                i += 1
                continue
            nxt = text[i + 1]
            if nxt in " \t\\'\"#$":
                if quote == '"' and nxt in "'#":
                    # Inside double quotes these need no escaping but are accepted.
                    cur.append(nxt)
                else:
                    cur.append(nxt)
                i += 2
                continue
            if nxt in "nrt":
                cur.append({"n": "\n", "r": "\r", "t": "\t"}[nxt])
                i += 2
                continue
            if nxt == "x":
                hexdigits = text[i + 2 : i + 4]
                if len(hexdigits) == 2 and all(h in _HEX for h in hexdigits):
                    cur.append(chr(int(hexdigits, 16)))
                    i += 4
                    continue
                errors.append((i + 1, "truncated or invalid hexadecimal sequence"))
                i += 2
                continue
            # Unknown escapes keep the backslash, as HAProxy does.
            cur.append(c)
            i += 1
            continue
        if c == "'" and quote == "":
            quote = "'"
            quote_col = i + 1
            word_quoted = True
            i += 1
            continue
        if c == '"':
            if quote == '"':
                quote = ""
            else:
                quote = '"'
                quote_col = i + 1
                word_quoted = True
            i += 1
            continue
        if c == "$" and quote == '"':
            i = _expand_var(text, i, env, cur, unresolved, errors, words, cols, word_col)
            continue
        cur.append(c)
        i += 1

    if quote:
        errors.append((quote_col, f"unmatched {'single' if quote == chr(39) else 'double'} quote"))
    end_word()
    if len(words) > MAX_LINE_ARGS:
        errors.append(_too_many_words(cols))
    return Line(
        lineno,
        tuple(words),
        tuple(cols),
        frozenset(quoted),
        tuple(errors),
        tuple(unresolved),
    )


def _expand_var(
    text: str,
    i: int,
    env: Mapping[str, str],
    cur: list[str],
    unresolved: list[tuple[str, int]],
    errors: list[tuple[int, str]],
    words: list[str],
    cols: list[int],
    word_col: int,
) -> int:
    """Expand "$VAR", "${VAR}", "${VAR-default}" and "${VAR[*]}" inside double quotes."""
    start = i
    braced = i + 1 < len(text) and text[i + 1] == "{"
    j = i + 2 if braced else i + 1
    m = _VAR_NAME.match(text, j)
    if m is None:
        # A lone '$' inside double quotes is kept as-is.
        cur.append("$")
        return i + 1
    name = m.group(0)
    j = m.end()
    default: str | None = None
    split_words = False
    if braced:
        if text.startswith("[*]", j):
            split_words = True
            j += 3
        if j < len(text) and text[j] == "-":
            close = text.find("}", j)
            if close < 0:
                errors.append((start + 1, "unterminated '{' in variable reference"))
                return len(text)
            default = text[j + 1 : close]
            j = close
        if j >= len(text) or text[j] != "}":
            errors.append((start + 1, "unterminated '{' in variable reference"))
            return len(text)
        j += 1
    value = env.get(name)
    if value is None:
        if default is not None:
            value = default
        else:
            unresolved.append((name, start + 1))
            value = ""
    if split_words and value:
        parts = value.split()
        for part in parts[:-1]:
            cur.append(part)
            words.append("".join(cur))
            cols.append(word_col)
            cur.clear()
        cur.append(parts[-1])
    else:
        cur.append(value)
    return j
