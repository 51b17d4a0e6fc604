"""HAProxy 2.6 configuration parser: files to the shared model, plus every syntax error.

It reads files the way ``haproxy -f FILE -f DIR`` does (a directory contributes its
``*.cfg`` files in lexical order), evaluates ``.if`` blocks, expands ``"${VAR}"``,
validates keywords against the 2.6 grammar tables, and then resolves ``defaults``
sections into each proxy so that rules see the values that really apply.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType

from lbguard import speedups
from lbguard.errors import ConfigReadError
from lbguard.findings import Finding, Severity, parse_error
from lbguard.forked import Background, can_fork
from lbguard.model import (
    Balance,
    Bind,
    Config,
    Dialect,
    Directive,
    Frontend,
    HealthCheck,
    Location,
    Persistence,
    Pool,
    Route,
    Section,
    Server,
    Setting,
    SourceFile,
    positional_constructor,
)
from lbguard.parsers import haproxy_keywords as kw
from lbguard.parsers import haproxy_samples as samples
from lbguard.parsers.haproxy_arity import NEEDS_ARGUMENT
from lbguard.parsers.haproxy_conditions import evaluate_condition
from lbguard.parsers.haproxy_lexer import MAX_LINE_ARGS, Line, plain_columns, tokenize
from lbguard.parsers.haproxy_lexer import SPECIAL as _SPECIAL_CHARS
from lbguard.sources import SourceText, read_source
from lbguard.suggest import did_you_mean
from lbguard.util import is_digits, keep, without_gc

# From this many statements on, validation runs in a forked child while the model is
# built: below it, the fork costs more than the overlap saves.
PARALLEL_VALIDATION_STATEMENTS = 20_000
SECTIONS = kw.SECTION_HEADERS
PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})
# Proxy sections' names must be unique among proxies that carry traffic.
_TIME_RE = re.compile(r"^[0-9]+(us|ms|s|m|h|d)?$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
# Every server line makes a Server and two Locations: these build the same frozen
# instances as Server(...) and Location(...) in well under half the time (see
# positional_constructor). Every field is positional, in declaration order.
_new_location = positional_constructor(Location)
_new_server = positional_constructor(Server)
_new_directive = positional_constructor(Directive)
_new_section = positional_constructor(Section)
_new_balance = positional_constructor(Balance)
_new_pool = positional_constructor(Pool)


@dataclass(slots=True)
class _Stmt:
    """One statement in a section, with the columns of its words for precise findings."""

    words: tuple[str, ...]
    # None for a plain line (see `columns`): `raw` is kept to compute them on demand.
    cols: tuple[int, ...] | None
    path: str
    lineno: int
    quoted: frozenset[int] = frozenset()
    raw: str = ""
    # Built on first use and kept: the same statement is read by several passes.
    _span: Location | None = None
    _directive: Directive | None = None
    # The same line as inherited by proxies from its defaults section: built once and
    # shared by the thousands of proxies that inherit it.
    _inherited: Directive | None = None
    # Server lines: the address as validation split it, reused when building.
    _address: tuple[str | None, int | None, str] | None = None

    @property
    def columns(self) -> tuple[int, ...]:
        # Plain lines (no quote, escape or variable: nearly all of them) get their
        # columns only when something asks: a server line needs just its span and its
        # address's column, which `span` and `loc` work out without the whole tuple.
        cols = self.cols
        if cols is None:
            cols = self.cols = plain_columns(self.raw, self.words)
        return cols

    def loc(self, index: int = 0) -> Location:
        words = self.words
        if not words:
            return _new_location(self.path, self.lineno, 1, self.lineno, 1)
        if index >= len(words):
            index = len(words) - 1
        cols = self.cols
        if cols is not None:
            col = cols[index]
        else:
            # The same walk as `plain_columns`, stopped at the word asked for.
            raw = self.raw
            pos = 0
            for word in words[:index]:
                pos = raw.find(word, pos) + len(word)
            col = raw.find(words[index], pos) + 1
        return _new_location(
            self.path, self.lineno, col, self.lineno, col + (len(words[index]) or 1) - 1
        )

    def span(self) -> Location:
        span = self._span
        if span is None:
            words = self.words
            if not words:
                span = _new_location(self.path, self.lineno, 1, self.lineno, 1)
            elif self.cols is None:
                # A plain line's first word starts after the leading blanks and its last
                # word ends where the trailing blanks begin (split() and strip() agree on
                # what is blank).
                raw = self.raw
                start = len(raw) - len(raw.lstrip()) + 1
                span = _new_location(self.path, self.lineno, start, self.lineno, len(raw.rstrip()))
            else:
                end = self.cols[-1] + (len(words[-1]) or 1) - 1
                span = _new_location(self.path, self.lineno, self.cols[0], self.lineno, end)
            self._span = span
        return span

    def directive(self, inherited_from: str | None = None) -> Directive:
        if inherited_from is not None:
            d = self._inherited
            if d is None or d.inherited_from != inherited_from:
                d = self._inherited = stmt_directive(self, inherited_from)
            return d
        d = self._directive
        if d is None:
            d = self._directive = stmt_directive(self, None)
        return d


def stmt_directive_py(stmt: _Stmt, inherited_from: str | None) -> Directive:
    """The statement's Directive, built (not cached: `_Stmt.directive` keeps it).

    Its C twin is `stmt_directive` in lbguard._speedups, which works out the span and
    the columns as `span()` and `columns` do and keeps them on the statement too.
    """
    words = stmt.words
    return _new_directive(words[0], words[1:], stmt.span(), inherited_from, stmt.columns[1:])


# Every field, in order: the plain-line runs (see `lex_run`) build statements with it.
_new_stmt = positional_constructor(_Stmt)


@dataclass
class _RawSection:
    kind: str
    name: str
    stmt: _Stmt
    body: list[_Stmt] = field(default_factory=list)
    from_defaults: str | None = None
    # The defaults section that was current when this proxy was declared.
    implicit_defaults: _RawSection | None = None


@dataclass(slots=True)
class _PoolState:
    """What a backend's statements have set so far, while its Pool is being built."""

    balance: Balance = field(default_factory=lambda: Balance("roundrobin"))
    hash_type: tuple[str, str, bool] = ("map-based", "sdbm", False)
    hash_factor: int = 0
    mode: str = "tcp"
    timeouts: dict[str, Setting] = field(default_factory=dict)
    flags: dict[str, Setting] = field(default_factory=dict)
    persistence: list[Persistence] = field(default_factory=list)
    health: HealthCheck = field(default_factory=HealthCheck)
    default_server: list[tuple[str, str | None]] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)

    def copy(self) -> _PoolState:
        """A copy whose lists and dicts can be changed without touching this one."""
        return _PoolState(
            self.balance,
            self.hash_type,
            self.hash_factor,
            self.mode,
            dict(self.timeouts),
            dict(self.flags),
            list(self.persistence),
            self.health,
            list(self.default_server),
            list(self.directives),
            list(self.servers),
        )


@dataclass
class ParseResult:
    config: Config
    findings: list[Finding]
    sources: dict[str, list[str]]


def expand_paths(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files in the order HAProxy reads them: each -f as given; a directory's *.cfg sorted."""
    out: list[str] = []
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(".cfg"))
            files = [os.path.join(path, n) for n in names]
            files = [f for f in files if os.path.isfile(f)]
            if not files:
                raise ConfigReadError(f"{path}: directory has no *.cfg files")
            out.extend(files)
        else:
            out.append(path)
    return out


def parse_haproxy(
    paths: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    read: Callable[[str], SourceText] = read_source,
    validate: bool = True,
) -> ParseResult:
    """Parse HAProxy config files (as `haproxy -f` takes them) into the shared model.

    `read` reads one file; a caller that has already read some passes its own.
    Without `validate`, only the model and the reading errors are made (for a pass
    that needs the model and leaves the syntax verdict to another).
    """
    files = expand_paths(paths)
    texts = [read(f) for f in files]
    return parse_haproxy_texts(texts, env=env, validate=validate)


def parse_haproxy_texts(
    texts: Iterable[SourceText], *, env: Mapping[str, str] | None = None, validate: bool = True
) -> ParseResult:
    with without_gc():
        return _parse_texts(texts, env, validate)


def _parse_texts(
    texts: Iterable[SourceText], env: Mapping[str, str] | None, validate: bool = True
) -> ParseResult:
    parser = _Parser(dict(os.environ) if env is None else dict(env))
    sources: dict[str, list[str]] = {}
    src_files: list[SourceFile] = []
    for src in texts:
        lines = src.text.split("\n")
        sources[src.path] = lines
        src_files.append(SourceFile(src.path, src.sha256, len(lines)))
        parser.read_file(src.path, src.text, lines)
    config = parser.build(tuple(src_files)) if validate else parser._build(tuple(src_files))
    keep(parser)
    return ParseResult(config, parser.findings, sources)


class _Parser:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.findings: list[Finding] = []
        self.sections: list[_RawSection] = []
        self.unresolved: list[tuple[str, Location]] = []
        self.defaults_by_name: dict[str, _RawSection] = {}
        self.comments: list[tuple[Location, str]] = []
        self.last_defaults: _RawSection | None = None
        # Option lists (the words after a server's address) that validation found
        # clean: a generated config repeats a handful of them on every server line.
        self.clean_server_options: set[tuple[str, ...]] = set()
        # Statements other than `server` that validation found clean, by what their
        # verdict depends on (see `_validate_stmt`).
        self.clean_statements: set[tuple[str, bool, tuple[str, ...]]] = set()
        # What a default-server line makes of the options in force before it.
        self.default_server_merges: dict[
            tuple[tuple[tuple[str, str | None], ...], tuple[str, ...]],
            list[tuple[str, str | None]],
        ] = {}
        # One object per distinct word of the plain lines (the C lexer's; None without).
        self.words: object = None if speedups.native is None else speedups.native.WordTable()
        # What the options after a server's address make of it, by default-server
        # options in force and then by those words: see `_server_fields`.
        # What a backend's inherited defaults set, by (defaults section id, kind).
        self.pool_prefixes: dict[tuple[int, str], _PoolState] = {}
        self.server_fields: dict[
            tuple[tuple[str, str | None], ...], dict[tuple[str, ...], _ServerFields]
        ] = {}

    # ----------------------------------------------------------------- reading

    def error(self, message: str, loc: Location, context: tuple[str, ...] = ()) -> None:
        self.findings.append(parse_error(message, loc, context))

    def warn(self, message: str, loc: Location, context: tuple[str, ...] = ()) -> None:
        self.findings.append(
            Finding("PARSE", "syntax-warning", Severity.WARNING, message, loc, context)
        )

    def read_file(self, path: str, text: str, lines: list[str]) -> None:
        # Conditional-block stack: (taking, seen_true, seen_else, line)
        cond: list[tuple[bool, bool, bool, int]] = []
        last = len(lines)
        if text and not text.endswith("\n"):
            self.error(
                "missing newline at end of file; HAProxy 2.6 refuses a last line without LF "
                "(the file may have been truncated)",
                Location(path, last, 1, last, max(len(lines[-1]), 1)),
            )
        elif text.endswith("\n"):
            last -= 1  # the empty string after the final newline is not a line
        active = True
        # Locals for the loop below, which runs once per line that is not plain.
        special = _SPECIAL_CHARS.search
        unquoted = _UNQUOTED
        max_words = MAX_LINE_ARGS
        body: list[_Stmt] | None = None  # the open section's statements
        seen = self.words
        i = 0
        while i < last:
            if active and body is not None:
                # Plain lines, nearly all of a big config, go by the run.
                run, i = lex_run(
                    lines, i, last, path, SECTIONS, _new_stmt, unquoted, max_words, seen
                )
                body.extend(run)
                if i >= last:
                    break
            raw = lines[i]
            i += 1
            lineno = i
            stripped = raw.lstrip()
            if not stripped:
                continue
            if stripped[0] != "." and special(raw) is None:
                # A plain line outside the runs: out of section, skipped by '.if', a
                # section header, or too long. Columns wait until asked for.
                if not active:
                    continue
                words = tuple(stripped.split())
                if len(words) <= max_words:
                    stmt = _Stmt(words, None, path, lineno, unquoted, raw)
                else:  # HAProxy refuses the line: the tokenizer reports it
                    long_line = self._read_special(path, lineno, raw, stripped, cond, active)
                    assert long_line is not None  # an active line with words is a statement
                    stmt = long_line
            else:
                stmt_or_none = self._read_special(path, lineno, raw, stripped, cond, active)
                if stmt_or_none is None:
                    active = all(c[0] for c in cond)
                    continue
                stmt = stmt_or_none
                words = stmt.words
            first = words[0]
            if first in SECTIONS:
                body = self._open_section(stmt).body
                continue
            if body is None:
                self.error(
                    f"unknown keyword '{first}' out of section; every file must start with "
                    "a section keyword (global, defaults, frontend, backend, listen, ...)",
                    stmt.loc(0),
                )
                continue
            body.append(stmt)
        if cond:
            self.error(
                "'.if' block opened here is not closed by '.endif' before the end of the file",
                Location(path, cond[-1][3], 1, cond[-1][3], 3),
            )

    def _read_special(
        self,
        path: str,
        lineno: int,
        raw: str,
        stripped: str,
        cond: list[tuple[bool, bool, bool, int]],
        active: bool,
    ) -> _Stmt | None:
        """A line with a comment, quote, escape, variable or leading '.': None if no statement.

        `active` says whether the enclosing '.if' blocks are taken; the caller recomputes
        it from `cond` whenever this returns None.
        """
        if stripped[0] == "#":
            col = len(raw) - len(stripped) + 1
            self.comments.append((Location(path, lineno, col), stripped[1:].strip()))
            return None
        if "#" in stripped:
            self._trailing_comment(path, lineno, raw)
        if stripped[0] == ".":
            line = tokenize(raw, lineno, self.env)
            if line.words and line.words[0] in _COND_WORDS:
                self._conditional(path, line, cond)
                return None
            if active:
                self._dot_directive(path, line)
            return None
        if not active:
            return None
        line = tokenize(raw, lineno, self.env)
        for col, msg in line.errors:
            self.error(msg, Location(path, lineno, col, lineno, col))
        for name, col in line.unresolved:
            loc = Location(path, lineno, col, lineno, col + len(name) + 2)
            self.unresolved.append((name, loc))
        if not line.words:
            return None
        return _Stmt(line.words, line.columns, path, lineno, line.quoted)

    def _trailing_comment(self, path: str, lineno: int, raw: str) -> None:
        # Good enough for notes and suppressions: a '#' preceded by blank space and
        # not inside quotes.
        quote = ""
        prev = " "
        for i, ch in enumerate(raw):
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"" and prev != "\\":
                quote = ch
            elif ch == "#" and prev in " \t":
                self.comments.append((Location(path, lineno, i + 1), raw[i + 1 :].strip()))
                return
            prev = ch

    def _conditional(self, path: str, line: Line, cond: list[tuple[bool, bool, bool, int]]) -> bool:
        word = line.words[0]
        loc = Location(path, line.lineno, line.columns[0], line.lineno, line.columns[0] + 2)
        parent_active = all(c[0] for c in cond[:-1]) if cond else True
        if word == ".if":
            outer = all(c[0] for c in cond)
            ok, err = evaluate_condition(line.words[1:], self.env)
            if err:
                self.error(f"'.if': {err}", loc)
            cond.append((outer and ok, ok, False, line.lineno))
        elif word == ".elif":
            if not cond or cond[-1][2]:
                self.error("'.elif' without a matching '.if'", loc)
                return all(c[0] for c in cond)
            _, seen, _, start = cond[-1]
            ok, err = evaluate_condition(line.words[1:], self.env)
            if err:
                self.error(f"'.elif': {err}", loc)
            take = (not seen) and ok
            cond[-1] = (parent_active and take, seen or ok, False, start)
        elif word == ".else":
            if not cond or cond[-1][2]:
                self.error("'.else' without a matching '.if'", loc)
                return all(c[0] for c in cond)
            _, seen, _, start = cond[-1]
            cond[-1] = (parent_active and not seen, True, True, start)
        elif word == ".endif":
            if not cond:
                self.error("'.endif' without a matching '.if'", loc)
            else:
                cond.pop()
        return all(c[0] for c in cond)

    def _dot_directive(self, path: str, line: Line) -> None:
        word = line.words[0]
        loc = Location(path, line.lineno, line.columns[0], line.lineno, line.columns[0])
        message = " ".join(line.words[1:])
        if word == ".alert":
            self.error(f"config asks to stop: {message}", loc)
        elif word == ".warning":
            self.warn(f"config warning: {message}", loc)
        elif word in (".notice", ".diag"):
            return
        else:
            self.error(f"unknown directive '{word}'", loc)

    def _open_section(self, stmt: _Stmt) -> _RawSection:
        kind = stmt.words[0]
        args = stmt.words[1:]
        name = args[0] if args else ""
        section = _RawSection(kind, name, stmt)
        if kind in PROXY_SECTIONS:
            if kind != "defaults" and not name:
                self.error(f"'{kind}' needs a name", stmt.loc(0))
            rest = list(args[1:])
            if len(rest) >= 2 and rest[0] == "from":
                section.from_defaults = rest[1]
                rest = rest[2:]
            elif rest and rest[0] == "from":
                self.error(
                    f"'{kind} {name} from' needs the name of a defaults section", stmt.loc(2)
                )
                rest = []
            if rest:
                if kind in ("frontend", "listen") and (":" in rest[0] or rest[0].startswith("*")):
                    self.error(
                        "please use the 'bind' keyword for listening addresses "
                        f"(an address on the '{kind}' line is not accepted since HAProxy 1.x)",
                        stmt.loc(2),
                    )
                else:
                    self.error(
                        f"unexpected argument '{rest[0]}' after '{kind} {name}'",
                        stmt.loc(len(args) - len(rest) + 1),
                    )
            if kind == "defaults":
                # A named defaults is only reachable by name; the most recent one (named
                # or not) is what proxies without `from` inherit.
                if name:
                    self.defaults_by_name[name] = section
            else:
                section.implicit_defaults = self.last_defaults
        if kind == "defaults":
            self.last_defaults = section
        self.sections.append(section)
        return section

    # -------------------------------------------------------------- validation

    def validate(self) -> None:
        seen_proxies: dict[tuple[str, str], _Stmt] = {}
        for section in self.sections:
            ctx = (f"{section.kind} {section.name}".strip(),)
            if section.kind in ("frontend", "backend", "listen"):
                # Frontends and backends share a namespace only for the same capability.
                caps: tuple[str, ...] = ("fe",) if section.kind == "frontend" else ("be",)
                if section.kind == "listen":
                    caps = ("fe", "be")
                for cap in caps:
                    key = (cap, section.name)
                    prev = seen_proxies.get(key)
                    if prev is not None and section.name:
                        self.error(
                            f"{section.kind} '{section.name}' has the same name as the proxy "
                            f"at line {prev.lineno}",
                            section.stmt.loc(1),
                            ctx,
                        )
                    seen_proxies[key] = section.stmt
            allowed = kw.SECTION_KEYWORDS.get(section.kind)
            if section.from_defaults and section.from_defaults not in self.defaults_by_name:
                self.error(
                    f"'{section.kind} {section.name}' inherits from unknown defaults "
                    f"'{section.from_defaults}'",
                    section.stmt.loc(3),
                    ctx,
                )
            server_names: dict[str, int] = {}
            if section.kind == "backend" or section.kind == "listen":
                # Server lines are most of a big config: straight to their check.
                check_pool(
                    section.body,
                    server_names,
                    self.clean_server_options,
                    _new_stmt,
                    partial(_check_server, self, section, ctx=ctx, names=server_names),
                    partial(
                        self._validate_stmt,
                        section,
                        allowed=allowed,
                        ctx=ctx,
                        server_names=server_names,
                    ),
                )
            else:
                for stmt in section.body:
                    self._validate_stmt(section, stmt, allowed, ctx, server_names)

    def _validate_stmt(
        self,
        section: _RawSection,
        stmt: _Stmt,
        allowed: frozenset[str] | None,
        ctx: tuple[str, ...],
        server_names: dict[str, int],
    ) -> None:
        word = stmt.words[0]
        kind = section.kind
        if word == "server":
            if kind == "backend" or kind == "listen":
                _check_server(self, section, stmt, ctx, server_names)
            else:
                self._check_statement(section, stmt, allowed, ctx, server_names)
            return
        # What a statement other than `server` gets reported for depends only on its
        # words and its section's kind (and, in defaults, on whether it is named): a
        # generated config repeats the same lines in thousands of backends, and a
        # line found clean once is clean again.
        key = (kind, kind == "defaults" and not section.name, stmt.words)
        if key in self.clean_statements:
            return
        before = len(self.findings)
        self._check_statement(section, stmt, allowed, ctx, server_names)
        if len(self.findings) == before:
            self.clean_statements.add(key)

    def _check_statement(
        self,
        section: _RawSection,
        stmt: _Stmt,
        allowed: frozenset[str] | None,
        ctx: tuple[str, ...],
        server_names: dict[str, int],
    ) -> None:
        word = stmt.words[0]
        kind = section.kind
        if word in ("no", "default") and kind in ("global", *PROXY_SECTIONS):
            if len(stmt.words) < 2 or stmt.words[1] not in kw.NEGATABLE_KEYWORDS:
                self.error(
                    f"'{word}' can only prefix {', '.join(sorted(kw.NEGATABLE_KEYWORDS))}",
                    stmt.loc(1 if len(stmt.words) > 1 else 0),
                    ctx,
                )
            elif stmt.words[1] == "option" and kind in PROXY_SECTIONS:
                self._validate_option(section, stmt, 2, ctx)
            return
        if kind == "global":
            self._validate_global(stmt, ctx)
            return
        if kind not in PROXY_SECTIONS:
            if allowed is not None and word not in allowed:
                hint = did_you_mean(word, allowed)
                self.error(f"unknown keyword '{word}' in '{kind}' section{hint}", stmt.loc(0), ctx)
            return
        status = kw.classify_proxy_keyword(kind, word)
        if status == "removed":
            self.error(
                f"'{word}' is not supported anymore: {kw.REMOVED_KEYWORDS[word]}", stmt.loc(0), ctx
            )
            return
        if status == "unknown":
            candidates = kw.SECTION_KEYWORDS.get(kind, frozenset()) | kw.SUGGESTION_EXTRA_PROXY
            hint = did_you_mean(word, candidates)
            self.error(f"unknown keyword '{word}' in '{kind}' section{hint}", stmt.loc(0), ctx)
            return
        if status in ("error", "warning"):
            where = sorted(kw.PROXY_KEYWORD_SECTIONS.get(word, frozenset()))
            message = f"'{word}' is not allowed in a '{kind}' section (only in {', '.join(where)})"
            if status == "error":
                self.error(message, stmt.loc(0), ctx)
            else:
                self.warn(message + "; HAProxy ignores the line", stmt.loc(0), ctx)
            return
        if kind == "defaults" and not section.name and word in kw.NAMED_DEFAULTS_ONLY:
            self.error(
                f"'{word}' is only allowed in a named defaults section (defaults NAME)",
                stmt.loc(0),
                ctx,
            )
            return
        if _missing_argument(self, kind, stmt, ctx):
            return
        check = _PROXY_CHECKS.get(word)
        if check is not None:
            check(self, section, stmt, ctx, server_names)
        _check_expressions(self, stmt, ctx)

    def _validate_global(self, stmt: _Stmt, ctx: tuple[str, ...]) -> None:
        word = stmt.words[0]
        removed = kw.REMOVED_GLOBAL_KEYWORDS.get(word)
        if removed is not None:
            self.error(f"'{word}' is {removed}", stmt.loc(0), ctx)
        elif word in kw.BUILD_DEPENDENT_GLOBAL_KEYWORDS:
            self.warn(
                f"'{word}' needs an HAProxy built with {kw.BUILD_DEPENDENT_GLOBAL_KEYWORDS[word]}",
                stmt.loc(0),
                ctx,
            )
        elif word not in kw.GLOBAL_KEYWORDS:
            hint = did_you_mean(word, kw.GLOBAL_KEYWORDS | kw.SUGGESTION_EXTRA_GLOBAL)
            self.error(f"unknown keyword '{word}' in 'global' section{hint}", stmt.loc(0), ctx)
        else:
            _missing_argument(self, "global", stmt, ctx)

    def _validate_option(
        self, section: _RawSection, stmt: _Stmt, index: int, ctx: tuple[str, ...]
    ) -> None:
        if len(stmt.words) <= index:
            self.error("'option' needs an option name", stmt.loc(index - 1), ctx)
            return
        name = stmt.words[index]
        valid = kw.PROXY_OPTIONS.get(section.kind, frozenset())
        removed = kw.REMOVED_OPTIONS.get(name)
        if removed is not None:
            self.error(f"option '{name}' is not supported anymore: {removed}", stmt.loc(index), ctx)
            return
        if name not in valid:
            if name in kw.OPTIONS:
                self.warn(
                    f"option '{name}' has no effect in a '{section.kind}' section; HAProxy "
                    "ignores it",
                    stmt.loc(index),
                    ctx,
                )
            else:
                hint = did_you_mean(name, kw.OPTIONS | kw.SUGGESTION_EXTRA_OPTIONS)
                self.error(f"unknown option '{name}'{hint}", stmt.loc(index), ctx)
            return
        if stmt.words[0] != "option":
            return  # `no option X` / `default option X` take no arguments of their own
        extra = len(stmt.words) - index - 1
        lo, hi = kw.OPTION_ARGS.get(name, (0, 0))
        if extra < lo:
            self.error(f"'option {name}' expects at least {lo} argument(s)", stmt.loc(index), ctx)
        elif hi is not None and extra > hi:
            self.error(
                f"'option {name}' does not take the argument '{stmt.words[index + 1 + hi]}'",
                stmt.loc(index + 1 + hi),
                ctx,
            )

    # ------------------------------------------------------------ model build

    def validation_findings(self) -> list[Finding]:
        """What `validate` reports, as a list of its own (it may run in a forked child)."""
        saved, self.findings = self.findings, []
        try:
            self.validate()
            return self.findings
        finally:
            self.findings = saved

    def build(self, files: tuple[SourceFile, ...]) -> Config:
        # Validation only reports; building does not need its verdict. On a big config
        # the two run side by side (see lbguard.forked), and validation's findings
        # take their usual place, after the reading errors.
        mark = len(self.findings)
        statements = sum(len(s.body) for s in self.sections)
        if statements >= PARALLEL_VALIDATION_STATEMENTS and can_fork():
            validating = Background(self.validation_findings)
            config = self._build(files)
            self.findings[mark:mark] = validating.result()
            return config
        self.findings[mark:mark] = self.validation_findings()
        return self._build(files)

    def _build(self, files: tuple[SourceFile, ...]) -> Config:
        pools: list[Pool] = []
        frontends: list[Frontend] = []
        sections: list[Section] = []
        for section in self.sections:
            body = section.body
            if section.kind in ("backend", "listen"):
                pool, own = self._build_pool(section)
                pools.append(pool)
            else:
                own = tuple([s.directive() for s in body if s.words[0] != "server"])
            sections.append(
                _new_section(
                    section.kind,
                    section.name,
                    section.stmt.span(),
                    own,
                    body[-1].lineno if body else 0,
                    body[0].lineno if body else 0,
                )
            )
            if section.kind in ("frontend", "listen"):
                frontends.append(self._build_frontend(section, self._effective(section)))
        return Config(
            Dialect.HAPROXY,
            files,
            tuple(pools),
            tuple(frontends),
            tuple(sections),
            tuple(self.unresolved),
            tuple(self.comments),
        )

    def _defaults_for(self, section: _RawSection) -> _RawSection | None:
        if section.from_defaults:
            return self.defaults_by_name.get(section.from_defaults)
        return section.implicit_defaults

    def _inherited(self, section: _RawSection) -> list[tuple[str, list[_Stmt]]]:
        """What the section inherits from its chain of defaults, by defaults section."""
        chain: list[_RawSection] = []
        seen: set[int] = set()
        d = self._defaults_for(section)
        while d is not None and id(d) not in seen:
            chain.append(d)
            seen.add(id(d))
            d = self.defaults_by_name.get(d.from_defaults) if d.from_defaults else None
        out: list[tuple[str, list[_Stmt]]] = []
        allowed = kw.SECTION_KEYWORDS.get(section.kind, frozenset())
        for d in reversed(chain):
            label = f"defaults {d.name}".strip()
            inherited: list[_Stmt] = []
            for stmt in d.body:
                word = stmt.words[0]
                if word in _NOT_INHERITED:
                    continue
                if word in ("no", "default") or word in allowed:
                    inherited.append(stmt)
            out.append((label, inherited))
        return out

    def _effective(self, section: _RawSection) -> list[tuple[str | None, list[_Stmt]]]:
        """The section's statements preceded by those it inherits from its defaults.

        Grouped by origin (a defaults section's label, then None for the section's own
        body) so that the body is walked as it is rather than copied into pairs.
        """
        out: list[tuple[str | None, list[_Stmt]]] = []
        out.extend(self._inherited(section))
        out.append((None, section.body))
        return out

    def _build_pool(self, section: _RawSection) -> tuple[Pool, tuple[Directive, ...]]:
        """The section's Pool, and the directives of its own body (not inherited)."""
        # What the inherited defaults set is the same for every backend that inherits
        # them (thousands, in a generated config): work it out once per defaults
        # section and start each backend from a copy.
        d = self._defaults_for(section)
        key = (id(d), section.kind)
        prefix = self.pool_prefixes.get(key)
        if prefix is None:
            prefix = _PoolState()
            for origin, stmts in self._inherited(section):
                for stmt in stmts:
                    if stmt.words[0] != "server":  # never inherited; kept for safety
                        self._pool_statement(prefix, stmt, origin)
            self.pool_prefixes[key] = prefix
        state = prefix.copy()
        inherited = len(state.directives)
        current = (state.default_server, self._fields_memo(state.default_server))

        def apply(stmt: _Stmt) -> _ServerState:
            nonlocal current
            self._pool_statement(state, stmt, None)
            if stmt.words[0] == "default-server":
                current = (state.default_server, self._fields_memo(state.default_server))
            return current

        # Servers live in Pool.servers; no raw directive is kept for them.
        build_pool(
            section.body,
            state.servers,
            current,
            _new_stmt,
            _new_location,
            _new_server,
            _make_server,
            apply,
        )
        servers = state.servers
        health = state.health
        balance = state.balance
        hash_type = state.hash_type
        if health.kind == "none" and any([s.check for s in servers]):
            health = HealthCheck("tcp", None)
        if any([s.agent_check for s in servers]):
            health = HealthCheck(
                "agent" if health.kind == "none" else health.kind, health.location, health.path
            )
        balance = _new_balance(
            balance.algorithm,
            balance.location,
            balance.args,
            balance.key,
            hash_type[0],
            hash_type[1],
            hash_type[2],
            state.hash_factor,
            balance.inherited_from,
        )
        directives = tuple(state.directives)
        pool = _new_pool(
            section.name,
            section.kind,
            section.stmt.span(),
            balance,
            tuple(servers),
            state.mode,
            tuple(state.persistence),
            health,
            MappingProxyType(state.timeouts),
            MappingProxyType(state.flags),
            directives,
            1,  # workers: nginx only
            False,  # implicit: nginx only
        )
        # Every statement of the body but `server` lines put its directive there, in
        # order, after those inherited: the section's own directives.
        return pool, directives[inherited:]

    def _pool_statement(self, state: _PoolState, stmt: _Stmt, origin: str | None) -> None:
        """Apply one backend statement (anything but `server`) to the pool being built."""
        word = stmt.words[0]
        state.directives.append(stmt.directive(origin))
        args = stmt.words[1:]
        if word == "balance":
            state.balance = _make_balance(stmt, origin)
        elif word == "hash-type" and args:
            method = args[0]
            func = args[1] if len(args) > 1 else "sdbm"
            aval = len(args) > 2 and args[2] == "avalanche"
            state.hash_type = (method, func, aval)
        elif word == "hash-balance-factor" and args and is_digits(args[0]):
            state.hash_factor = int(args[0])
        elif word == "mode" and args:
            state.mode = args[0]
        elif word == "timeout" and len(args) >= 2:
            state.timeouts[args[0]] = Setting(args[1], stmt.span(), origin)
        elif word in _LEGACY_TIMEOUTS and args:
            state.timeouts[_LEGACY_TIMEOUTS[word]] = Setting(args[0], stmt.span(), origin)
        elif word == "option" and args:
            state.flags[args[0]] = Setting(" ".join(args[1:]), stmt.span(), origin)
            state.health = _health_from_option(args, stmt, state.health)
        elif word in ("no", "default") and len(args) >= 2 and args[0] == "option":
            state.flags.pop(args[1], None)
            if state.health.kind != "none" and _CHECK_OPTIONS.get(args[1]) == state.health.kind:
                state.health = HealthCheck()
        elif word == "cookie" and args:
            state.persistence.append(Persistence("cookie", stmt.span()))
        elif word == "stick" and args and args[0] in ("on", "match", "store-request"):
            state.persistence.append(Persistence("stick-table", stmt.span()))
        elif word == "default-server":
            # The same line in thousands of backends merges the same way each time.
            key = (tuple(state.default_server), stmt.words)
            merged = self.default_server_merges.get(key)
            if merged is None:
                merged = _merge_options(state.default_server, _server_options(stmt, 1))
                self.default_server_merges[key] = merged
            state.default_server = list(merged)
        elif word == "server-template" and origin is None and len(args) >= 3:
            state.servers.extend(_expand_template(stmt, state.default_server))

    def _fields_memo(
        self, default_server: list[tuple[str, str | None]]
    ) -> dict[tuple[str, ...], _ServerFields]:
        """The memo of `_server_fields` results under these default-server options."""
        key = tuple(default_server)
        memo = self.server_fields.get(key)
        if memo is None:
            memo = self.server_fields[key] = {}
        return memo

    def _build_frontend(
        self, section: _RawSection, effective: list[tuple[str | None, list[_Stmt]]]
    ) -> Frontend:
        binds: list[Bind] = []
        routes: list[Route] = []
        timeouts: dict[str, Setting] = {}
        mode = "tcp"
        directives: list[Directive] = []
        default: Route | None = None
        for origin, stmts in effective:
            for stmt in stmts:
                word = stmt.words[0]
                args = stmt.words[1:]
                directives.append(stmt.directive(origin))
                if word == "bind" and args and origin is None:
                    binds.append(Bind(args[0], stmt.span(), tuple(args[1:])))
                elif word == "mode" and args:
                    mode = args[0]
                elif word == "timeout" and len(args) >= 2:
                    timeouts[args[0]] = Setting(args[1], stmt.span(), origin)
                elif word in _LEGACY_TIMEOUTS and args:
                    timeouts[_LEGACY_TIMEOUTS[word]] = Setting(args[0], stmt.span(), origin)
                elif word == "use_backend" and args and origin is None:
                    cond = " ".join(args[1:]) or None
                    routes.append(Route(args[0], stmt.loc(1), cond))
                elif word == "default_backend" and args:
                    default = Route(args[0], stmt.loc(1), None, True)
        if default is not None:
            routes.append(default)
        elif section.kind == "listen":
            routes.append(Route(section.name, section.stmt.loc(1), None, True))
        return Frontend(
            name=section.name,
            kind=section.kind,
            location=section.stmt.span(),
            binds=tuple(binds),
            routes=tuple(routes),
            mode=mode,
            timeouts=MappingProxyType(timeouts),
            directives=tuple(directives),
        )


_COND_WORDS = frozenset({".if", ".elif", ".else", ".endif"})
_UNQUOTED: frozenset[int] = frozenset()
_NOT_INHERITED = frozenset({"server", "server-template", "bind", "use_backend", "use-server"})
_LEGACY_TIMEOUTS = {"contimeout": "connect", "clitimeout": "client", "srvtimeout": "server"}
_CHECK_OPTIONS = {
    "httpchk": "http",
    "tcp-check": "tcp",
    "ssl-hello-chk": "tcp",
    "smtpchk": "tcp",
    "mysql-check": "tcp",
    "pgsql-check": "tcp",
    "redis-check": "tcp",
    "ldap-check": "tcp",
    "spop-check": "tcp",
    "external-check": "external",
}


def _health_from_option(args: tuple[str, ...], stmt: _Stmt, current: HealthCheck) -> HealthCheck:
    kind = _CHECK_OPTIONS.get(args[0])
    if kind is None:
        return current
    path = None
    if args[0] == "httpchk":
        rest = args[1:]
        if len(rest) == 1:
            path = rest[0]
        elif len(rest) >= 2:
            path = rest[1]
    return HealthCheck(kind, stmt.span(), path)


# --------------------------------------------------------------------- servers


def _server_options(stmt: _Stmt, start: int) -> list[tuple[str, str | None]]:
    """Options after the address, pairing each keyword with its argument when it takes one."""
    out: list[tuple[str, str | None]] = []
    words = stmt.words
    i = start
    while i < len(words):
        word = words[i]
        nargs = kw.SERVER_OPTIONS.get(word, 0)
        if nargs < 0:
            out.append((word, " ".join(words[i + 1 :])))
            break
        if nargs >= 1 and i + 1 < len(words):
            out.append((word, " ".join(words[i + 1 : i + 1 + nargs])))
            i += 1 + nargs
        else:
            out.append((word, None))
            i += 1
    return out


def _merge_options(
    base: list[tuple[str, str | None]], extra: list[tuple[str, str | None]]
) -> list[tuple[str, str | None]]:
    """default-server then server: a later keyword overrides, `no-X` cancels X."""
    if not base:
        return extra
    merged = dict(base)
    for key, value in extra:
        if key[:3] == "no-" and key[3:] in merged:
            del merged[key[3:]]
        else:
            merged[key] = value
    return list(merged.items())


def split_address(text: str) -> tuple[str | None, int | None, str]:
    """Split HAProxy's ``[proto@]host[:port]`` into host, numeric port and the port text."""
    if "@" not in text:
        # The common `host:port` (one colon, a host that is not a path or "[v6]"): the
        # same result as the general case below, with fewer steps, once per server.
        name, colon, digits = text.partition(":")
        if colon and name and ":" not in digits and name[0] != "/" and name[0] != "[":
            port = int(digits) if digits.isascii() and digits.isdigit() else None
            return name, port, digits
    addr = text
    if "@" in addr:
        proto, _, rest = addr.partition("@")
        if proto in ("unix", "abns", "fd", "sockpair"):
            return addr, None, ""
        if proto in ("ipv4", "ipv6", "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"):
            addr = rest
    if addr[:1] == "/":
        return addr, None, ""
    host: str
    port_text = ""
    if addr.startswith("["):
        close = addr.find("]")
        host = addr[1:close] if close > 0 else addr[1:]
        rest = addr[close + 1 :] if close > 0 else ""
        port_text = rest[1:] if rest.startswith(":") else ""
    elif addr.count(":") == 1:
        host, port_text = addr.split(":", 1)
    elif addr.count(":") > 1:
        host, _, port_text = addr.rpartition(":")
        if not is_digits(port_text):
            host, port_text = addr, ""
    else:
        host = addr
    port = int(port_text) if is_digits(port_text) else None
    return (host if host else None), port, port_text


# What a server's options make of it: (options as written after any default-server
# merge, weight, backup, disabled, check, maxconn, maxqueue, slowstart, agent_check).
_ServerFields = tuple[
    tuple[tuple[str, str | None], ...],
    int,
    bool,
    bool,
    bool,
    int | None,
    int | None,
    float | None,
    bool,
]


def _server_fields(options: list[tuple[str, str | None]]) -> _ServerFields:
    opts = dict(options)
    slowstart = opts.get("slowstart")
    return (
        tuple(options),
        _int_or(opts.get("weight"), 1),
        "backup" in opts,
        "disabled" in opts,
        "check" in opts,
        _int_or_none(opts.get("maxconn")),
        _int_or_none(opts.get("maxqueue")),
        None if slowstart is None else parse_time(slowstart),
        "agent-check" in opts,
    )


def _server_from_options(
    name: str,
    address_text: str,
    loc: Location,
    options: list[tuple[str, str | None]],
    template_count: int | None = None,
    address_location: Location | None = None,
    parts: tuple[str | None, int | None, str] | None = None,
) -> Server:
    host, port, _ = parts or split_address(address_text)
    fields = _server_fields(options)
    return _new_server(
        name,
        host,
        port,
        loc,
        *fields[1:],
        fields[0],
        template_count,
        address_text,
        None,
        address_location,
    )


def _make_server(
    stmt: _Stmt,
    defaults: list[tuple[str, str | None]],
    memo: dict[tuple[str, ...], _ServerFields],
) -> Server:
    """The Server for one `server` line, under the default-server options in force.

    `memo` maps the words after the address to what they make of the server under
    these defaults: the fields are a pure function of those words, and a big config
    repeats a few option lists on thousands of lines.
    """
    words = stmt.words
    name = words[1]
    parts = stmt._address
    if parts is None and len(words) > 2 and not looks_like_option_not_address(words[2]):
        # Validation, which splits the address, ran in another process (see `build`).
        parts = split_address(words[2])
    raw = stmt.raw
    if parts is not None and stmt.cols is None:
        # The common case, a plain line whose address validation accepted and split:
        # its span and the address's span come straight from the text, as `span` and
        # `loc` would compute them, without building the line's column tuple.
        address = words[2]
        first_option = 3
        path = stmt.path
        lineno = stmt.lineno
        start = len(raw) - len(raw.lstrip())
        at = raw.find(address, raw.find(name, start + 6) + len(name))  # 6: len("server")
        addr_loc = _new_location(path, lineno, at + 1, lineno, at + (len(address) or 1))
        span = _new_location(path, lineno, start + 1, lineno, len(raw.rstrip()))
    elif parts is not None:
        address = words[2]
        first_option = 3
        addr_loc = stmt.loc(2)
        span = stmt.span()
    else:
        address = words[2] if len(words) > 2 else ""
        first_option = 3
        if looks_like_option_not_address(address):
            # `server web-02 check` is what `server web-02 $IP check` becomes when $IP
            # is empty.
            address, first_option = "", 2
        addr_loc = stmt.loc(2) if len(words) > 2 else stmt.loc(1)
        span = stmt.span()
        parts = split_address(address)
    own_words = words[first_option:]
    fields = memo.get(own_words)
    if fields is None:
        own = _server_options(stmt, first_option)
        fields = memo[own_words] = _server_fields(_merge_options(defaults, own))
    options, weight, backup, disabled, check, maxconn, maxqueue, slowstart, agent = fields
    return _new_server(
        name,
        parts[0],
        parts[1],
        span,
        weight,
        backup,
        disabled,
        check,
        maxconn,
        maxqueue,
        slowstart,
        agent,
        options,
        None,  # template_count
        address,
        None,  # max_fails: nginx only
        addr_loc,
    )


def looks_like_option_not_address(word: str) -> bool:
    return word in kw.SERVER_OPTIONS and not any(c in word for c in ".:/[")


# ---------------------------------------------------------- the hot loops

# The three loops below run once per line or statement of a config, and a big
# config is mostly plain `server` lines. Each has a C twin in lbguard/_speedups.c
# that handles those lines itself and hands every other one to the same callbacks,
# with the same outcome; these Python versions are the definition, and what runs
# without the extension. Tests hold the two to identical models and findings.

# (default-server options in force, the `_server_fields` memo for them)
_ServerState = tuple[list[tuple[str, str | None]], dict[tuple[str, ...], _ServerFields]]


def lex_run_py(
    lines: list[str],
    i: int,
    stop: int,
    path: str,
    sections: frozenset[str],
    new_stmt: Callable[..., _Stmt],
    unquoted: frozenset[int],
    max_words: int,
    seen: object,
) -> tuple[list[_Stmt], int]:
    """The plain lines from `lines[i]` on as statements, up to the first line that is not.

    Plain: no quote, backslash, '#' or '$', not a '.' directive, at most `max_words`
    words, and a first word that opens no section. Blank lines are skipped. Returns
    the statements and the index of the line it stopped at (`stop` at the end).
    (`seen` is where the C twin keeps one object per distinct word, which saves
    allocations and memory and changes no value; this twin has no use for it.)
    """
    out: list[_Stmt] = []
    special = _SPECIAL_CHARS.search
    while i < stop:
        raw = lines[i]
        stripped = raw.lstrip()
        if stripped:
            if stripped[0] == "." or special(raw) is not None:
                break
            words = tuple(stripped.split())
            if len(words) > max_words or words[0] in sections:
                break
            out.append(new_stmt(words, None, path, i + 1, unquoted, raw, None, None, None, None))
        i += 1
    return out, i


def check_pool_py(
    body: list[_Stmt],
    names: dict[str, int],
    clean: set[tuple[str, ...]],
    new_stmt: Callable[..., _Stmt],
    check_server: Callable[[_Stmt], None],
    check_other: Callable[[_Stmt], None],
) -> None:
    """Validate a backend's statements in order: `server` lines by `check_server`.

    The C twin settles a server line itself when `check_server` would find nothing
    to report: a new name, a plain ``host:port`` address, options in `clean`. It then
    does what `check_server` does to such a line: records the name in `names` and
    keeps the split address on the statement.
    """
    for stmt in body:
        if stmt.words[0] == "server":
            check_server(stmt)
        else:
            check_other(stmt)


def build_pool_py(
    body: list[_Stmt],
    servers: list[Server],
    state: _ServerState,
    new_stmt: Callable[..., _Stmt],
    new_location: Callable[..., Location],
    new_server: Callable[..., Server],
    make_server: Callable[
        [_Stmt, list[tuple[str, str | None]], dict[tuple[str, ...], _ServerFields]], Server
    ],
    apply: Callable[[_Stmt], _ServerState],
) -> None:
    """Append a backend's servers to `servers`, applying its other statements in order.

    `apply` takes every statement but a server line and returns the state in force
    after it. The C twin builds a plain server line itself when `make_server` would
    take its plain path (the address split, the options in the memo).
    """
    defaults, memo = state
    for stmt in body:
        words = stmt.words
        if words[0] == "server":
            if len(words) >= 2:
                servers.append(make_server(stmt, defaults, memo))
            continue
        defaults, memo = apply(stmt)


if speedups.native is not None:
    stmt_directive: Callable[[_Stmt, str | None], Directive] = partial(
        speedups.native.stmt_directive, _new_stmt, _new_location, _new_directive
    )
    lex_run: Callable[..., tuple[list[_Stmt], int]] = speedups.native.lex_run
    check_pool: Callable[..., None] = speedups.native.check_pool
    build_pool: Callable[..., None] = speedups.native.build_pool
else:
    stmt_directive = stmt_directive_py
    lex_run = lex_run_py
    check_pool = check_pool_py
    build_pool = build_pool_py


def _expand_template(stmt: _Stmt, defaults: list[tuple[str, str | None]]) -> list[Server]:
    prefix = stmt.words[1]
    spec = stmt.words[2]
    address = stmt.words[3]
    options = _merge_options(defaults, _server_options(stmt, 4))
    if "-" in spec:
        lo_text, _, hi_text = spec.partition("-")
        lo, hi = _int_or(lo_text, 1), _int_or(hi_text, 0)
    else:
        lo, hi = 1, _int_or(spec, 0)
    count = max(hi - lo + 1, 0)
    # Cap the expansion: a template of 10,000 would not change any verdict.
    return [
        _server_from_options(f"{prefix}{i}", address, stmt.span(), options, count, stmt.loc(3))
        for i in range(lo, lo + min(count, 1024))
    ]


def _int_or(text: str | None, default: int) -> int:
    if text is None:
        return default
    if is_digits(text):
        return int(text)
    return int(text) if _INT_RE.match(text) else default


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    if is_digits(text):
        return int(text)
    return int(text) if _INT_RE.match(text) else None


def parse_time(text: str, default_unit: str = "ms") -> float | None:
    """HAProxy time format (doc 2.5) to seconds; None when malformed."""
    m = re.fullmatch(r"([0-9]+)(us|ms|s|m|h|d)?", text)
    if m is None:
        return None
    value = int(m.group(1))
    unit = m.group(2) or default_unit
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}[unit]
    return value * scale


def _seconds_or_none(text: str | None) -> float | None:
    return None if text is None else parse_time(text)


# --------------------------------------------------------------------- balance


def _make_balance(stmt: _Stmt, origin: str | None) -> Balance:
    words = stmt.words[1:] or ("roundrobin",)
    algo = words[0]
    key: str | None = None
    name = algo
    if algo.startswith("hdr(") and algo.endswith(")"):
        name, key = "hdr", algo
    elif algo.startswith("rdp-cookie"):
        name, key = "rdp-cookie", algo
    elif algo.startswith("random"):
        name = "random"
    elif algo == "source":
        key = "src"
    elif algo == "uri":
        key = "uri"
    elif algo == "url_param":
        key = f"url_param({words[1]})" if len(words) > 1 else "url_param"
    elif algo == "hash":
        key = words[1] if len(words) > 1 else None
    return Balance(name, stmt.span(), tuple(words[1:]), key, inherited_from=origin)


# ------------------------------------------------------- per-keyword checking


# What each 2.6 algorithm accepts after its name (checked with haproxy 2.6.12 -c):
# algorithms not listed with options ignore extra words, as HAProxy does.
_BALANCE_ALGOS = (
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "uri",
    "url_param",
    "hdr",
    "random",
    "rdp-cookie",
    "hash",
)
_URI_OPTIONS = {"len": 1, "depth": 1, "whole": 0, "path-only": 0}


def _check_balance(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    words = stmt.words
    if len(words) < 2:
        return  # a bare `balance` selects roundrobin
    algo = words[1]
    base, paren, inner = algo.partition("(")
    rest = words[2:]
    if not paren and base.startswith("random"):
        base = "random"  # HAProxy 2.6 matches 'random' as a prefix
    valid = base in _BALANCE_ALGOS and (not paren or base in ("hdr", "random", "rdp-cookie"))
    if base == "hdr" and not paren:
        valid = False
    if not valid:
        hint = did_you_mean(base, _BALANCE_ALGOS)
        p.error(
            f"unknown balance algorithm '{algo}'{hint} (HAProxy 2.6 supports roundrobin, "
            "static-rr, leastconn, first, source, uri, url_param, hdr(name), random, "
            "rdp-cookie and hash)",
            stmt.loc(1),
            ctx,
        )
        return
    if paren and not inner.endswith(")"):
        p.error(f"missing ')' in balance algorithm '{algo}'", stmt.loc(1), ctx)
        return
    inner = inner[:-1]
    if base == "hdr":
        if not inner:
            p.error("'balance hdr()' needs a header name, e.g. hdr(host)", stmt.loc(1), ctx)
        elif rest and rest[0] != "use_domain_only":
            p.error(
                f"'balance {algo}' only accepts the 'use_domain_only' modifier (got '{rest[0]}')",
                stmt.loc(2),
                ctx,
            )
    elif base == "random" and paren and inner:
        if not is_digits(inner):
            p.error(f"'balance random(N)' needs a number of draws, got '{inner}'", stmt.loc(1), ctx)
        elif int(inner) < 1:
            p.error("'balance random(N)': the number of draws must be at least 1", stmt.loc(1), ctx)
    elif base == "url_param":
        if not rest:
            p.error("'balance url_param' needs the name of a URL parameter", stmt.loc(1), ctx)
        elif len(rest) > 1 and rest[1] != "check_post":
            p.error(
                f"'balance url_param' only accepts the 'check_post' modifier (got '{rest[1]}')",
                stmt.loc(3),
                ctx,
            )
    elif base == "hash":
        if not rest:
            p.error(
                "'balance hash' needs a sample expression, e.g. hash req.cookie(id)",
                stmt.loc(1),
                ctx,
            )
    elif base == "uri":
        i = 0
        while i < len(rest):
            arg = rest[i]
            nargs = _URI_OPTIONS.get(arg)
            if nargs is None:
                hint = did_you_mean(arg, _URI_OPTIONS)
                p.error(
                    f"'balance uri' only accepts 'len', 'depth', 'path-only' and 'whole' "
                    f"(got '{arg}'){hint}",
                    stmt.loc(2 + i),
                    ctx,
                )
                return
            if nargs:
                value = rest[i + 1] if i + 1 < len(rest) else ""
                if not is_digits(value) or int(value) < 1:
                    p.error(
                        f"'balance uri {arg}' expects a positive integer (got '{value}')",
                        stmt.loc(2 + i),
                        ctx,
                    )
                    return
            i += 1 + nargs


def _check_hash_type(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    args = stmt.words[1:]
    if not args:
        p.error("'hash-type' needs a method: map-based or consistent", stmt.loc(0), ctx)
        return
    if args[0] in kw.REMOVED_HASH_TYPES:
        p.error(
            f"'hash-type {args[0]}' is not supported anymore: {kw.REMOVED_HASH_TYPES[args[0]]}",
            stmt.loc(1),
            ctx,
        )
        return
    if args[0] not in kw.HASH_TYPES:
        hint = did_you_mean(args[0], kw.HASH_TYPES)
        p.error(
            f"unknown hash-type method '{args[0]}'{hint} (map-based or consistent)",
            stmt.loc(1),
            ctx,
        )
        return
    if len(args) > 1 and args[1] not in kw.HASH_FUNCTIONS:
        hint = did_you_mean(args[1], kw.HASH_FUNCTIONS)
        p.error(
            f"unknown hash function '{args[1]}'{hint} ({', '.join(sorted(kw.HASH_FUNCTIONS))})",
            stmt.loc(2),
            ctx,
        )
        return
    if len(args) > 2 and args[2] != "avalanche":
        p.error(f"unknown hash-type modifier '{args[2]}' (only 'avalanche')", stmt.loc(3), ctx)
    if len(args) > 3:
        p.error(f"unexpected argument '{args[3]}' for 'hash-type'", stmt.loc(4), ctx)


def _check_server_options(
    p: _Parser, stmt: _Stmt, start: int, ctx: tuple[str, ...], keyword: str
) -> None:
    words = stmt.words
    options = kw.SERVER_OPTIONS
    i = start
    n = len(words)
    while i < n:
        word = words[i]
        nargs = options.get(word)
        if nargs is None:
            hint = did_you_mean(word, options)
            p.error(f"'{keyword}' has unknown option '{word}'{hint}", stmt.loc(i), ctx)
            return
        if keyword == "default-server" and word in kw.NOT_FOR_DEFAULT_SERVER:
            p.error(f"option '{word}' is not supported on 'default-server'", stmt.loc(i), ctx)
        if nargs == 0:
            i += 1
            continue
        if nargs < 0:
            return  # `source ...` consumes a variable number of words
        if i + nargs >= n:
            p.error(f"'{keyword}' option '{word}' expects an argument", stmt.loc(i), ctx)
            return
        problem = _server_option_value_problem(word, words[i + 1])
        if problem:
            p.error(f"'{keyword}' option '{word}' {problem}", stmt.loc(i + 1), ctx)
        i += 1 + nargs


def _server_option_value_problem(word: str, value: str) -> str | None:
    if word == "weight":
        if not is_digits(value):
            return f"expects an integer from 0 to 256, got '{value}'"
        if int(value) > 256:
            return f"is {value}, but the maximum weight is 256"
    elif word in ("maxconn", "maxqueue", "minconn", "rise", "fall", "port", "agent-port"):
        if not is_digits(value.lstrip("+")):
            return f"expects an integer, got '{value}'"
    elif word in ("inter", "fastinter", "downinter", "slowstart", "agent-inter") and not (
        _TIME_RE.match(value)
    ):
        return f"expects a time (e.g. 2s, 500ms), got '{value}'"
    return None


def _check_server(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], names: dict[str, int]
) -> None:
    words = stmt.words
    if len(words) < 2:
        p.error(
            "'server' needs a name and an address: server <name> <address>[:port]", stmt.loc(0), ctx
        )
        return
    name = words[1]
    prev = names.get(name)
    if prev is not None:
        p.error(
            f"another server named '{name}' was already defined at line {prev}; "
            "HAProxy refuses duplicate server names",
            stmt.loc(1),
            (*ctx, f"server {name}"),
        )
    names[name] = stmt.lineno
    if len(words) < 3:
        p.error(f"server '{name}' has no address", stmt.loc(1), (*ctx, f"server {name}"))
        return
    address = words[2]
    if address in kw.SERVER_OPTIONS and looks_like_option_not_address(address):
        p.error(
            f"server '{name}' has no address: '{address}' is an option keyword "
            "(an unset variable may have left the address empty)",
            stmt.loc(2),
            (*ctx, f"server {name}"),
        )
        return
    parts = split_address(address)
    stmt._address = parts
    port = parts[1]
    # `_address_problem` finds nothing wrong with a numeric port up to 65535, or with
    # no port at all: only call it for the rest.
    if (port is None and parts[2]) or (port is not None and port > 65535):
        problem = _address_problem(address, parts)
        if problem:
            p.error(f"server '{name}': {problem}", stmt.loc(2), (*ctx, f"server {name}"))
    options = words[3:]
    # The option check depends on nothing but these words, and on a clean list it
    # reports nothing: a list seen clean once is not walked again.
    if options and options not in p.clean_server_options:
        before = len(p.findings)
        _check_server_options(p, stmt, 3, (*ctx, f"server {name}"), "server")
        if len(p.findings) == before:
            p.clean_server_options.add(options)


def _address_problem(
    address: str, parts: tuple[str | None, int | None, str] | None = None
) -> str | None:
    _host, port, port_text = parts or split_address(address)
    if port_text and port is None and not port_text.startswith(("+", "-")) and "-" not in port_text:
        return f"invalid port '{port_text}' in address '{address}'"
    if port is not None and port > 65535:
        return f"port {port} is out of range in address '{address}'"
    return None


def _check_default_server(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    _check_server_options(p, stmt, 1, ctx, "default-server")


def _check_server_template(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    words = stmt.words
    if len(words) < 4:
        p.error(
            "'server-template' needs a prefix, a count or range and an address: "
            "server-template <prefix> <num|range> <fqdn>[:port]",
            stmt.loc(len(words) - 1),
            ctx,
        )
        return
    spec = words[2]
    lo, _, hi = spec.partition("-")
    if not is_digits(lo) or (hi and not is_digits(hi)):
        p.error(
            f"'server-template' count '{spec}' must be a number or a range like 1-5",
            stmt.loc(2),
            ctx,
        )
    _check_server_options(p, stmt, 4, ctx, "server-template")


def _check_backend_ref(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    words = stmt.words
    word = words[0]
    if len(words) < 2:
        p.error(f"'{word}' needs a backend name", stmt.loc(0), ctx)
        return
    if word == "default_backend":
        if len(words) > 2:
            p.error(
                f"'default_backend' takes exactly one backend name; unexpected '{words[2]}'",
                stmt.loc(2),
                ctx,
            )
        return
    if len(words) > 2:
        if words[2] not in ("if", "unless"):
            p.error(
                f"'use_backend {words[1]}' expects 'if' or 'unless' followed by a condition, "
                f"got '{words[2]}'",
                stmt.loc(2),
                ctx,
            )
        elif len(words) < 4:
            p.error(
                f"'use_backend {words[1]} {words[2]}' is missing its condition", stmt.loc(2), ctx
            )


def _check_timeout(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    words = stmt.words
    if len(words) < 2:
        p.error("'timeout' needs a name (connect, client, server, queue, ...)", stmt.loc(0), ctx)
        return
    name = words[1]
    if name in kw.REMOVED_TIMEOUT_NAMES:
        p.error(
            f"'timeout {name}' is not supported anymore: {kw.REMOVED_TIMEOUT_NAMES[name]}",
            stmt.loc(1),
            ctx,
        )
        return
    valid = kw.TIMEOUTS.get(section.kind, frozenset())
    if name not in valid:
        if name in kw.PROXY_TIMEOUT_NAMES:
            p.warn(
                f"'timeout {name}' has no effect in a '{section.kind}' section; HAProxy ignores it",
                stmt.loc(1),
                ctx,
            )
        else:
            hint = did_you_mean(name, kw.PROXY_TIMEOUT_NAMES)
            p.error(f"unknown timeout '{name}'{hint}", stmt.loc(1), ctx)
        return
    if len(words) < 3:
        p.error(f"'timeout {name}' expects a time value (e.g. 5s)", stmt.loc(1), ctx)
        return
    value = words[2]
    if not _TIME_RE.match(value):
        bad = next((c for c in value if not c.isalnum()), value[:1])
        p.error(
            f"unexpected character '{bad}' in 'timeout {name}' value '{value}'; "
            "use a number with an optional unit (us, ms, s, m, h, d)",
            stmt.loc(2),
            ctx,
        )
    elif len(words) > 3:
        p.error(f"'timeout {name}' takes one value; unexpected '{words[3]}'", stmt.loc(3), ctx)


def _check_option(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    p._validate_option(section, stmt, 1, ctx)


def _check_mode(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    words = stmt.words
    if len(words) > 1 and words[1] in kw.REMOVED_MODES:
        p.error(
            f"'mode {words[1]}' is not supported anymore: {kw.REMOVED_MODES[words[1]]}",
            stmt.loc(1),
            ctx,
        )
    elif len(words) < 2 or words[1] not in kw.PROXY_MODES:
        got = f"'{words[1]}'" if len(words) > 1 else "nothing"
        p.error(f"'mode' expects 'http' or 'tcp', got {got}", stmt.loc(min(1, len(words) - 1)), ctx)


def _check_int_arg(
    p: _Parser, section: _RawSection, stmt: _Stmt, ctx: tuple[str, ...], _n: dict[str, int]
) -> None:
    words = stmt.words
    if len(words) < 2 or not is_digits(words[1]):
        got = f"'{words[1]}'" if len(words) > 1 else "nothing"
        p.error(
            f"'{words[0]}' expects an integer argument, got {got}",
            stmt.loc(min(1, len(words) - 1)),
            ctx,
        )


def _missing_argument(p: _Parser, kind: str, stmt: _Stmt, ctx: tuple[str, ...]) -> bool:
    """Report a keyword written without the argument(s) HAProxy requires."""
    words = stmt.words
    if kind == "listen":
        needs = NEEDS_ARGUMENT["frontend"] | NEEDS_ARGUMENT["backend"]
    else:
        needs = NEEDS_ARGUMENT.get(kind, frozenset())
    problem = None
    if len(words) == 1 and words[0] in needs:
        problem = f"'{words[0]}' expects an argument"
    elif len(words) == 2 and f"{words[0]} {words[1]}" in needs:
        problem = f"'{words[0]} {words[1]}' expects an argument"
    elif words[0] == "log" and len(words) == 2 and words[1] != "global":
        problem = "'log' expects an address and a facility (or 'log global')"
    elif words[0] == "acl" and len(words) == 2:
        problem = f"acl '{words[1]}' has no criterion"
    elif words[0] == "acl" and words[-1] == "-m":
        problem = "'-m' expects a match method"
    elif words[0] == "option" and len(words) >= 3 and words[1] in ("forwardfor", "originalto"):
        params = (
            kw.OPTION_FORWARDFOR_PARAMS if words[1] == "forwardfor" else kw.OPTION_ORIGINALTO_PARAMS
        )
        if params.get(words[-1], 0) > 0:
            problem = f"'option {words[1]} {words[-1]}' expects a value"
    if problem is None:
        return False
    p.error(problem, stmt.loc(len(words) - 1), ctx)
    return True


_NO_EXPRESSIONS = frozenset(
    {"server", "default-server", "server-template", "timeout", "balance", "mode", "hash-type"}
)


def _check_expressions(p: _Parser, stmt: _Stmt, ctx: tuple[str, ...]) -> None:
    """Sample expressions in %[...], ACL criteria, filters and anonymous ACL braces."""
    words = stmt.words
    if words[0] in _NO_EXPRESSIONS:
        return
    for i, word in enumerate(words[1:], start=1):
        if "%[" in word:
            problem = _format_problem(word)
            if problem:
                p.error(problem, stmt.loc(i), ctx)
                return
    if words[0] == "acl" and len(words) >= 3:
        problem = _fetch_problem(words[2], acl=True)
        if problem:
            p.error(f"acl '{words[1]}': {problem}", stmt.loc(2), ctx)
            return
    if words[0] == "filter" and len(words) >= 2 and words[1] not in samples.FILTERS:
        hint = did_you_mean(words[1], samples.FILTERS)
        p.error(f"unknown filter '{words[1]}'{hint}", stmt.loc(1), ctx)
        return
    for i, word in enumerate(words):
        if word in ("if", "unless"):
            depth = 0
            for w in words[i + 1 :]:
                if w in ("{", "!{"):
                    depth += 1
                elif w == "}":
                    depth -= 1
            if depth > 0:
                p.error("anonymous ACL '{' is not closed by '}'", stmt.loc(i), ctx)
            elif depth < 0:
                p.error("unexpected '}' in condition", stmt.loc(i), ctx)
            break


def _format_problem(word: str) -> str | None:
    pos = 0
    while True:
        start = word.find("%[", pos)
        if start < 0:
            return None
        end = _matching_bracket(word, start + 2)
        if end < 0:
            return f"missing ']' after '{word[start + 2 :]}'"
        problem = _fetch_problem(word[start + 2 : end], acl=False)
        if problem:
            return problem
        pos = end + 1


def _matching_bracket(text: str, i: int) -> int:
    depth = 0
    quote = ""
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "]" and depth <= 0:
            return i
        i += 1
    return -1


def _split_converters(expr: str) -> list[str]:
    """Split `fetch(args),conv1(args),conv2` at top-level commas."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for c in expr:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return parts


def _fetch_problem(expr: str, *, acl: bool) -> str | None:
    if not expr or expr.startswith(("-", "{")):
        return None
    parts = _split_converters(expr)
    name = parts[0].split("(", 1)[0].strip()
    if not name or not re.fullmatch(r"[A-Za-z_][\w.+-]*", name):
        return None
    known = samples.FETCHES | (samples.ACL_KEYWORDS if acl else frozenset())
    if name not in known and not _is_numbered_fetch(name, known):
        hint = did_you_mean(name, known)
        where = "ACL expression" if acl else "sample expression"
        return f"unknown fetch method '{name}' in {where} '{expr}'{hint}"
    for conv in parts[1:]:
        cname = conv.split("(", 1)[0].strip()
        if cname and cname not in samples.CONVERTERS:
            hint = did_you_mean(cname, samples.CONVERTERS)
            return f"unknown converter '{cname}' in '{expr}'{hint}"
    return None


def _is_numbered_fetch(name: str, known: frozenset[str]) -> bool:
    # sc0_http_req_rate, sc1_..., src_..., and sc_... are registered under one name.
    m = re.fullmatch(r"sc(\d+)_(.+)", name)
    return m is not None and (f"sc_{m.group(2)}" in known or f"sc0_{m.group(2)}" in known)


_PROXY_CHECKS = {
    "balance": _check_balance,
    "hash-type": _check_hash_type,
    "server": _check_server,
    "default-server": _check_default_server,
    "server-template": _check_server_template,
    "use_backend": _check_backend_ref,
    "default_backend": _check_backend_ref,
    "timeout": _check_timeout,
    "option": _check_option,
    "mode": _check_mode,
    "hash-balance-factor": _check_int_arg,
    "fullconn": _check_int_arg,
}
