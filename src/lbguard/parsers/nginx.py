"""nginx 1.22 configuration parser: files to a raw directive tree, then to the shared model.

Three layers, each usable on its own:

1. ``parse_file`` / ``parse_text`` build the raw directive tree of one file (name,
   args, position, block children), exactly as nginx tokenizes it, and collect the
   syntax errors a tokenizer can see (missing ``;``, unbalanced braces, bad quoting),
   recovering so that every error in the file is reported in one run. ``to_crossplane``
   turns such trees into crossplane's ``parse()`` payload, which is how the tree is
   tested against an independent parser.
2. ``check_tree`` walks the tree the way nginx's ``ngx_conf_parse`` does: it follows
   ``include`` (globs sorted like glob(3), relative to the conf directory), checks each
   directive against the 1.22 directive table (unknown, wrong context, wrong argument
   count, on/off flags) and the parameters nginx validates while reading the file
   (upstream ``server`` parameters and address, balancing methods, ``if`` conditions,
   ``listen`` parameters, ``proxy_pass`` URL prefixes). It returns the include-expanded
   tree with obvious missing-``;`` mistakes split apart, so the model is built from what
   the author meant rather than from nginx's first error.
3. ``parse_nginx`` builds the balancer-neutral ``Config``: upstreams become pools,
   ``server`` blocks become frontends with one route per ``*_pass``.

Fragments (conf.d files, snippets) are checked in the context they are included from:
pass ``context`` or let the shape of the file decide (see ``detect_context``).

Secrets: ``proxy_set_header Authorization ...``, ``auth_basic_user_file`` (a path to a
password file) and friends are kept as written in the tree; this module never opens
the files they name, and printing them is left to the shared redaction helper.
"""

from __future__ import annotations

import gc
import glob
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lbguard.errors import ConfigReadError
from lbguard.findings import CONFIG, PARSE, Finding, Severity, parse_error
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
    Pool,
    Route,
    Section,
    Server,
    Setting,
    SourceFile,
    positional_constructor,
)
from lbguard.parsers import nginx_directives as nd
from lbguard.parsers.nginx_lexer import (
    LBRACE,
    QWORD,
    RBRACE,
    SEMI,
    SIMPLE_SEMI,
    WORD,
    Token,
    tokenize,
)

# Hot-path constructors (see lbguard.model.positional_constructor).
_new_server = positional_constructor(Server)
_new_directive = positional_constructor(Directive)
_new_location = positional_constructor(Location)

__all__ = [
    "ConfigReadError",
    "NginxDirective",
    "NginxFile",
    "check_tree",
    "detect_context",
    "parse_file",
    "parse_nginx",
    "parse_text",
    "to_crossplane",
]

# From this many lines on, checking runs in a forked child while the model is built.
PARALLEL_CHECK_LINES = 20_000
# A config this large would be millions of lines; anything bigger is a mistake.
MAX_FILE_BYTES = 64 * 1024 * 1024
# nginx itself has no include-depth limit (a cycle exhausts file descriptors); lbguard
# stops well before that so that a runaway include tree is a finding, not a hang.
MAX_INCLUDE_DEPTH = 64

CONTEXTS: dict[str, int] = {
    "main": nd.MAIN,
    "http": nd.HTTP,
    "server": nd.SRV,
    "location": nd.LOC,
    "upstream": nd.UPS,
    "stream": nd.STREAM,
}
# Internal pseudo-contexts: data blocks (map, geo, types...) and blocks of directives
# lbguard does not know, whose contents are passed through unchecked.
_DATA = 1 << 20
_LENIENT = 1 << 21

# Which context a block opens, by (block directive, parent context).
_CHILD_CTX: dict[tuple[str, int], int] = {
    ("events", nd.MAIN): nd.EVENTS,
    ("http", nd.MAIN): nd.HTTP,
    ("stream", nd.MAIN): nd.STREAM,
    ("mail", nd.MAIN): nd.MAIL,
    ("server", nd.HTTP): nd.SRV,
    ("upstream", nd.HTTP): nd.UPS,
    ("location", nd.SRV): nd.LOC,
    ("location", nd.LOC): nd.LOC,
    ("if", nd.SRV): nd.SIF,
    ("if", nd.LOC): nd.LIF,
    ("limit_except", nd.LOC): nd.LMT,
    ("server", nd.STREAM): nd.SSRV,
    ("upstream", nd.STREAM): nd.SUPS,
    ("server", nd.MAIL): nd.MSRV,
}
_CHILD_BY_NAME: dict[str, int] = {
    "events": nd.EVENTS,
    "http": nd.HTTP,
    "stream": nd.STREAM,
    "mail": nd.MAIL,
    "server": nd.SRV,
    "upstream": nd.UPS,
    "location": nd.LOC,
    "if": nd.LIF,
    "limit_except": nd.LMT,
}

# Upstream `server` parameters that only NGINX Plus understands (1.22 OSS rejects them).
_PLUS_SERVER_PARAMS = ("resolve", "service=", "slow_start=", "route=", "drain", "backup=")
_HTTP_LISTEN_PARAMS = (
    "default_server",
    "default",
    "bind",
    "setfib=",
    "fastopen=",
    "backlog=",
    "rcvbuf=",
    "sndbuf=",
    "accept_filter=",
    "deferred",
    "ipv6only=",
    "reuseport",
    "ssl",
    "http2",
    "so_keepalive=",
    "proxy_protocol",
)
_STREAM_LISTEN_PARAMS = (
    "bind",
    "ipv6only=",
    "reuseport",
    "backlog=",
    "rcvbuf=",
    "sndbuf=",
    "fastopen=",
    "so_keepalive=",
    "ssl",
    "udp",
    "proxy_protocol",
)
_LISTEN_NEWER = {"quic": "1.25.0", "http3": "1.25.0"}
_PASS_DIRECTIVES = ("proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass")
_ROUTE_DIRECTIVES = (*_PASS_DIRECTIVES, "memcached_pass")
_TIME_RE = re.compile(r"^(?:\d+(?:ms|y|M|w|d|h|m|s)?)+$")
_INT_RE = re.compile(r"^\d+$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PLACEHOLDER_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")

# Directives whose values are secrets or point at secrets; see the module docstring.
SECRET_DIRECTIVES = frozenset(
    {
        "auth_basic_user_file",
        "ssl_certificate_key",
        "ssl_password_file",
        "proxy_ssl_certificate_key",
        "proxy_ssl_password_file",
        "grpc_ssl_certificate_key",
        "grpc_ssl_password_file",
        "uwsgi_ssl_certificate_key",
        "uwsgi_ssl_password_file",
        "ssl_session_ticket_key",
        "secure_link_md5",
        "secure_link_secret",
    }
)
# Header-setting directives whose value is a secret when the header is one of these.
SECRET_HEADER_DIRECTIVES = frozenset(
    {"proxy_set_header", "grpc_set_header", "fastcgi_param", "uwsgi_param", "scgi_param"}
)
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "http_authorization"}
)


# --------------------------------------------------------------------------- tree


@dataclass(slots=True, eq=False)
class NginxDirective:
    """One directive of the raw tree, as written (arguments unescaped like nginx does)."""

    name: str
    args: tuple[str, ...]
    line: int
    column: int
    file: str
    block: list[NginxDirective] | None = None
    # (line, column) of each argument; None while not yet computed from `raw` (one-line
    # statements keep their text and compute columns only when a finding needs them).
    positions: tuple[tuple[int, int], ...] | None = None
    # Whether each argument was quoted; empty means none was.
    quoted: tuple[bool, ...] = ()
    # False when the ';' was missing (the directive ran into '}' or end of file).
    terminated: bool = True
    # Where the terminating ';' or '{' is; for blocks also the closing '}' (0 = none).
    end_line: int = 0
    end_column: int = 0
    close_line: int = 0
    # The statement's words as written, for one-line statements of plain words.
    raw: str = ""

    @property
    def arg_positions(self) -> tuple[tuple[int, int], ...]:
        if self.positions is None:
            found: list[tuple[int, int]] = []
            offset = len(self.name)
            raw = self.raw
            for arg in self.args:
                offset = raw.find(arg, offset)
                found.append((self.line, self.column + offset))
                offset += len(arg)
            self.positions = tuple(found)
        return self.positions

    @property
    def arg_quoted(self) -> tuple[bool, ...]:
        return self.quoted or (False,) * len(self.args)

    @property
    def location(self) -> Location:
        """From the name to the terminating ';' or '{' (nginx reports the latter's line)."""
        if self.end_line:
            return _new_location(self.file, self.line, self.column, self.end_line, self.end_column)
        return _new_location(self.file, self.line, self.column, self.line, self._name_end())

    def _name_end(self) -> int:
        return self.column + max(len(self.name), 1) - 1

    def arg_location(self, index: int) -> Location:
        if 0 <= index < len(self.arg_positions):
            line, col = self.arg_positions[index]
            return Location(self.file, line, col, line, col + max(len(self.args[index]), 1) - 1)
        return self.location

    def last_position(self) -> tuple[int, int]:
        """Line and column just after the last word of the directive."""
        if self.arg_positions:
            line, col = self.arg_positions[-1]
            return line, col + len(self.args[-1]) + (2 if self.arg_quoted[-1] else 0)
        return self.line, self.column + len(self.name)

    def to_model(self, inherited_from: str | None = None) -> Directive:
        if self.positions is None and self.raw:
            # One-line statement: columns straight from the raw text.
            cols: list[int] = []
            raw = self.raw
            offset = len(self.name)
            base = self.column
            for arg in self.args:
                offset = raw.find(arg, offset)
                cols.append(base + offset)
                offset += len(arg)
            columns = tuple(cols)
        else:
            columns = tuple(c for _, c in self.arg_positions)
        return _new_directive(self.name, self.args, self.location, inherited_from, columns)

    def text(self) -> str:
        return " ".join((self.name, *self.args))


@dataclass(slots=True)
class NginxFile:
    """One parsed file: its raw tree, comments and the syntax errors seen while reading it."""

    path: str
    directives: list[NginxDirective]
    errors: list[Finding] = field(default_factory=list)
    comments: list[tuple[Location, str]] = field(default_factory=list)
    sha256: str = ""
    lines: int = 0
    encoding: str = "utf-8"


def read_config_text(path: str | os.PathLike[str]) -> tuple[str, str, str]:
    """Read a config file: (text, sha256, encoding), or raise ConfigReadError.

    nginx reads bytes and never decodes them, so a Latin-1 comment or ``return`` body
    is valid nginx. Failing on it would be a false verdict; instead the file is decoded
    as UTF-8 and, when that fails, as Latin-1 (every byte maps to one character, so
    tokens and columns are unchanged) and the caller notes the encoding. NUL bytes
    mean a binary file, which is never a config.
    """
    shown = os.fspath(path)
    p = Path(shown)
    try:
        if p.is_dir():
            raise ConfigReadError(f"{shown}: is a directory, expected a file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigReadError(
                f"{shown}: file is {size // (1024 * 1024)} MiB, over lbguard's limit of "
                f"{MAX_FILE_BYTES // (1024 * 1024)} MiB for one config file"
            )
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigReadError(f"{shown}: no such file or directory") from None
    except PermissionError:
        raise ConfigReadError(f"{shown}: permission denied") from None
    except OSError as exc:
        raise ConfigReadError(f"{shown}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigReadError(f"{shown}: file grew past lbguard's size limit while reading")
    if b"\x00" in data:
        raise ConfigReadError(f"{shown}: binary file (contains NUL bytes), not an nginx config")
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        encoding = "latin-1"
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, digest, encoding


def parse_text(text: str, path: str = "<string>") -> NginxFile:
    """Build the raw directive tree of one file's text, collecting every syntax error."""
    tokens, lex_errors = tokenize(text)
    errors = [
        parse_error(e.message, Location(path, e.line, e.column, e.line, e.column))
        for e in lex_errors
    ]
    comments: list[tuple[Location, str]] = []
    top: list[NginxDirective] = []
    # Stack of open blocks: (children list, the directive that opened it or None).
    stack: list[tuple[list[NginxDirective], NginxDirective | None]] = [(top, None)]
    children = top
    words: list[Token] = []
    quoted: list[bool] = []
    mismatch: tuple[NginxDirective, int] | None = None

    def make(term: Token | None, block: list[NginxDirective] | None) -> NginxDirective:
        first = words[0]
        return NginxDirective(
            first[1],
            tuple(t[1] for t in words[1:]),
            first[2],
            first[3],
            path,
            block,
            tuple((t[2], t[3]) for t in words[1:]),
            tuple(quoted[1:]) if any(quoted) else (),
            term is not None,
            term[2] if term is not None else 0,
            term[3] if term is not None else 0,
        )

    for index, tok in enumerate(tokens):
        kind = tok[0]
        if kind >= SIMPLE_SEMI:
            value = tok[1]
            if words:
                # The statement started on an earlier line: fall back to word tokens.
                offset = 0
                for word in value.split():
                    offset = value.index(word, offset)
                    words.append((WORD, word, tok[2], tok[3] + offset, 0))
                    quoted.append(False)
                    offset += len(word)
                term = (SEMI if kind == SIMPLE_SEMI else LBRACE, "", tok[2], tok[4], 0)
                if kind == SIMPLE_SEMI:
                    children.append(make(term, None))
                else:
                    opened: list[NginxDirective] = []
                    node = make(term, opened)
                    children.append(node)
                    stack.append((opened, node))
                    children = opened
                words.clear()
                quoted.clear()
                continue
            parts = value.split()
            node = NginxDirective(
                parts[0],
                tuple(parts[1:]),
                tok[2],
                tok[3],
                path,
                None if kind == SIMPLE_SEMI else [],
                None,
                (),
                True,
                tok[2],
                tok[4],
                0,
                value,
            )
            children.append(node)
            if node.block is not None:
                stack.append((node.block, node))
                children = node.block
            continue
        if kind <= QWORD:
            words.append(tok)
            quoted.append(kind == QWORD)
        elif kind == SEMI:
            if not words:
                errors.append(_err(path, tok, 'unexpected ";": no directive before it'))
                continue
            children.append(make(tok, None))
            words.clear()
            quoted.clear()
        elif kind == LBRACE:
            block: list[NginxDirective] = []
            if not words:
                errors.append(_err(path, tok, 'unexpected "{": no directive before it'))
                stack.append((block, None))
            else:
                node = make(tok, block)
                children.append(node)
                stack.append((block, node))
                words.clear()
                quoted.clear()
            children = block
        elif kind == RBRACE:
            if words:
                node = make(None, None)
                node.terminated = False
                children.append(node)
                errors.append(_missing_semicolon(node, tok[2], tok[3], '"}"'))
                words.clear()
                quoted.clear()
            if len(stack) == 1:
                errors.append(
                    _err(path, tok, 'unexpected "}": there is no open block for it to close')
                )
                continue
            _, opener = stack.pop()
            if opener is not None:
                opener.close_line = tok[2]
                first_on_line = index == 0 or tokens[index - 1][2] != tok[2]
                if mismatch is None and first_on_line and _closes_outer(opener, tok, text):
                    mismatch = (opener, tok[2])
            children = stack[-1][0]
        else:  # COMMENT
            comments.append((Location(path, tok[2], tok[3]), tok[1]))
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if words:
        node = make(None, None)
        node.terminated = False
        children.append(node)
        errors.append(_missing_semicolon(node, max(lines, 1), 1, "end of file"))
    if len(stack) > 1:
        errors.append(_unclosed_block(stack, mismatch, path, lines))
    return NginxFile(path, top, errors, comments, lines=lines)


def _err(path: str, tok: Token, message: str) -> Finding:
    return parse_error(message, Location(path, tok[2], tok[3], tok[2], tok[3]))


def _missing_semicolon(node: NginxDirective, line: int, column: int, what: str) -> Finding:
    """A missing ';' is reported where it belongs (after the last word), not where nginx
    noticed it; the span runs to the token nginx would complain about."""
    at_line, at_col = node.last_position()
    shown = node.text()
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return parse_error(
        f'missing ";" at the end of "{shown}" (nginx reports unexpected {what} at line {line})',
        Location(node.file, at_line, at_col, line, column),
    )


def _closes_outer(opener: NginxDirective, tok: Token, text: str) -> bool:
    """True when a '}' that starts its line is indented less than the block it closes:
    likely the '}' of an outer block, so this block's own '}' is the one missing.
    Indentation is the column of the first word (a tab counts as one column, which is
    consistent as long as a file does not mix tabs and spaces)."""
    if opener.line == tok[2] or tok[3] >= opener.column:
        return False
    start = text.rfind("\n", 0, _offset_hint(text, opener)) + 1
    opener_first = text[start : start + opener.column - 1].strip(" \t") == ""
    return opener_first


def _offset_hint(text: str, node: NginxDirective) -> int:
    """An offset on the node's line: only needs to be on the right line, found by
    counting lines once per call (called at most until the first mismatch)."""
    pos = 0
    for _ in range(node.line - 1):
        pos = text.find("\n", pos) + 1
    return pos + node.column - 1


def _unclosed_block(
    stack: list[tuple[list[NginxDirective], NginxDirective | None]],
    mismatch: tuple[NginxDirective, int] | None,
    path: str,
    lines: int,
) -> Finding:
    if mismatch is not None:
        opener, close_line = mismatch
        return parse_error(
            f'block "{opener.text()}" is missing its "}}": the "}}" at line {close_line} is '
            "indented like an outer block, so the file ends with a block still open "
            '(nginx: unexpected end of file, expecting "}")',
            Location(path, opener.line, opener.column, close_line, 1),
        )
    for _, node in stack[1:]:
        if node is not None:
            return parse_error(
                f'block "{node.text()}" is never closed: add "}}" '
                '(nginx: unexpected end of file, expecting "}")',
                Location(path, node.line, node.column, max(lines, node.line), 1),
            )
    return parse_error('unexpected end of file, expecting "}"', Location(path, max(lines, 1), 1))


def parse_file(path: str | os.PathLike[str]) -> NginxFile:
    """Parse one file (without following includes) into its raw tree."""
    shown = os.fspath(path)
    text, digest, encoding = read_config_text(shown)
    parsed = parse_text(text, shown)
    parsed.sha256 = digest
    parsed.encoding = encoding
    return parsed


# ------------------------------------------------------------------ crossplane shape


def _crossplane_if_args(args: list[str]) -> list[str]:
    """crossplane strips the parentheses of `if` arguments; mirror it for comparison."""
    if args and args[0].startswith("(") and args[-1].endswith(")"):
        args[0] = args[0][1:].lstrip()
        args[-1] = args[-1][:-1].rstrip()
        start = int(not args[0])
        end = len(args) - int(not args[-1])
        args[:] = args[start:end]
    return args


def _crossplane_block(nodes: Iterable[NginxDirective]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for node in nodes:
        args = list(node.args)
        if node.name == "if":
            args = _crossplane_if_args(args)
        stmt: dict[str, Any] = {"directive": node.name, "line": node.line, "args": args}
        if node.block is not None:
            stmt["block"] = _crossplane_block(node.block)
        out.append(stmt)
    return out


def to_crossplane(tree: NginxFile | Sequence[NginxFile]) -> dict[str, Any]:
    """crossplane's ``parse()`` payload (status, errors, config[file, parsed...])."""
    files = [tree] if isinstance(tree, NginxFile) else list(tree)
    config: list[dict[str, Any]] = []
    all_errors: list[dict[str, Any]] = []
    for f in files:
        errs = [
            {"error": e.message, "line": e.location.line}
            for e in f.errors
            if e.severity >= Severity.ERROR
        ]
        all_errors.extend({"file": f.path, **e} for e in errs)
        config.append(
            {
                "file": f.path,
                "status": "failed" if errs else "ok",
                "errors": errs,
                "parsed": _crossplane_block(f.directives),
            }
        )
    return {"status": "failed" if all_errors else "ok", "errors": all_errors, "config": config}


# ------------------------------------------------------------------------ checking


@dataclass(slots=True)
class _UpstreamState:
    """What nginx knows about an upstream while it reads its block, in order."""

    node: NginxDirective
    method: str | None = None
    method_node: NginxDirective | None = None
    backup_ok: bool = True
    servers: int = 0


@dataclass
class CheckResult:
    """The include-expanded, repaired tree plus everything found on the way."""

    tree: list[NginxDirective]
    findings: list[Finding]
    files: dict[str, NginxFile]
    context: str


class _Checker:
    """Walks raw trees in nginx's reading order, following includes and checking each
    directive against the 1.22 table; returns the expanded tree."""

    def __init__(self, conf_dir: str) -> None:
        self.conf_dir = conf_dir
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, str, int, int, str]] = set()
        self.files: dict[str, NginxFile] = {}
        self.include_stack: list[str] = []
        self.upstreams: list[_UpstreamState] = []
        # Pure functions of their arguments that a big config asks about the same
        # values thousands of times: which spec applies (by name and context), and
        # what is wrong with an upstream server parameter (by word and backup_ok).
        self._specs: dict[tuple[str, int], tuple[nd.Spec | None, bool]] = {}
        self._param_problems: dict[tuple[str, bool], tuple[str, str] | None] = {}

    # -- reporting
    def add(self, finding: Finding) -> None:
        loc = finding.location
        key = (finding.code, loc.path, loc.line, loc.column, finding.message)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(finding)

    def error(self, message: str, location: Location) -> None:
        self.add(parse_error(message, location))

    def env(self, message: str, location: Location, severity: Severity = Severity.ERROR) -> None:
        self.add(Finding(PARSE, "environment", severity, message, location, environment=True))

    # -- files
    def load(self, path: str, real: str) -> NginxFile:
        """Parse a file once (raises ConfigReadError) and report its own problems once."""
        cached = self.files.get(real)
        if cached is not None:
            return cached
        parsed = parse_file(path)
        self.register(real, parsed)
        return parsed

    def register(self, real: str, parsed: NginxFile) -> None:
        self.files[real] = parsed
        for e in parsed.errors:
            self.add(e)
        if parsed.encoding != "utf-8":
            self.add(
                Finding(
                    CONFIG,
                    "non-utf8-config",
                    Severity.INFO,
                    f"{parsed.path} is not valid UTF-8; read as Latin-1 (nginx reads raw "
                    "bytes, so this is allowed, but editors and tools may mangle it)",
                    Location(parsed.path, 1, 1),
                )
            )

    # -- walking
    def walk(self, nodes: list[NginxDirective], ctx: int) -> list[NginxDirective]:
        out: list[NginxDirective] = []
        queue = list(nodes)
        queue.reverse()
        while queue:
            node = queue.pop()
            if node.name == "include" and ctx != _LENIENT:
                out.extend(self.include(node, ctx))
                continue
            if ctx in (_DATA, _LENIENT):
                if node.block is not None:
                    node = _with_block(node, self.walk(node.block, ctx))
                out.append(node)
                continue
            # Only a multi-line statement can have swallowed the next line (see
            # `_split_point`); one-line statements, nearly all of them, skip the call.
            split = None if node.raw else self.try_split(node, ctx)
            if split is not None:
                queue.extend(reversed(split))
                continue
            out.append(self.check(node, ctx))
        return out

    def include(self, node: NginxDirective, ctx: int) -> list[NginxDirective]:
        if len(node.args) != 1:
            self.error(
                f'invalid number of arguments in "include" directive: it takes 1 argument, '
                f"got {len(node.args)}",
                node.location,
            )
            return []
        pattern = node.args[0]
        full = pattern if os.path.isabs(pattern) else os.path.join(self.conf_dir, pattern)
        if glob.has_magic(full):
            names = sorted(glob.glob(full))
        elif os.path.exists(full):
            names = [full]
        else:
            self.env(
                f'include file "{full}" not found (nginx: open() "{full}" failed); '
                "relative includes resolve against the conf directory "
                f"{self.conf_dir}, pass --prefix if that is wrong",
                node.arg_location(0),
            )
            return []
        out: list[NginxDirective] = []
        for name in names:
            real = os.path.realpath(name)
            if os.path.isdir(real):
                self.error(f'include "{pattern}" matches a directory: {name}', node.location)
                continue
            if real in self.include_stack:
                chain = " -> ".join(
                    (*(os.path.basename(p) for p in self.include_stack), os.path.basename(real))
                )
                self.error(f"circular include: {chain}; nginx would include forever", node.location)
                continue
            if len(self.include_stack) >= MAX_INCLUDE_DEPTH:
                self.error(f"includes nested deeper than {MAX_INCLUDE_DEPTH}", node.location)
                continue
            try:
                parsed = self.load(name, real)
            except ConfigReadError as exc:
                self.env(f"cannot read included file: {exc.message}", node.arg_location(0))
                continue
            self.include_stack.append(real)
            try:
                out.extend(self.walk(parsed.directives, ctx))
            finally:
                self.include_stack.pop()
        return out

    def try_split(self, node: NginxDirective, ctx: int) -> list[NginxDirective] | None:
        """Split a directive that swallowed the next line because its ';' is missing."""
        index = _split_point(node, ctx)
        if index is None:
            return None
        first = NginxDirective(
            node.name,
            node.args[:index],
            node.line,
            node.column,
            node.file,
            None,
            node.arg_positions[:index],
            node.arg_quoted[:index],
            False,
        )
        line, col = node.arg_positions[index]
        second = NginxDirective(
            node.args[index],
            node.args[index + 1 :],
            line,
            col,
            node.file,
            node.block,
            node.arg_positions[index + 1 :],
            node.arg_quoted[index + 1 :],
            node.terminated,
            node.end_line,
            node.end_column,
            node.close_line,
        )
        at_line, at_col = first.last_position()
        self.error(
            f'missing ";" at the end of "{first.text()}": the next line\'s "{second.name}" '
            "was read as its argument",
            Location(node.file, at_line, at_col, line, col),
        )
        return [first, second]

    def check(self, node: NginxDirective, ctx: int) -> NginxDirective:
        name = node.name
        specs = nd.DIRECTIVES.get(name)
        if specs is None:
            self.unknown(node, ctx)
            if node.block is not None:
                node = _with_block(node, self.walk(node.block, _LENIENT))
            return node
        key = (name, ctx)
        cached = self._specs.get(key)
        if cached is None:
            first = next((s for s in specs if s.contexts & ctx), None)
            cached = self._specs[key] = (first, first is not None and first.block)
        spec, takes_block = cached
        if spec is None:
            self.not_allowed(node, ctx, specs)
            child = _CHILD_BY_NAME.get(name, _LENIENT)
            body = node.block
            if body is not None:
                if specs[0].block and child == nd.UPS:
                    self.upstreams.append(_UpstreamState(node))
                    try:
                        node = _with_block(node, self.walk(body, child))
                    finally:
                        self.upstreams.pop()
                else:
                    node = _with_block(node, self.walk(body, child))
            return node
        nargs = len(node.args)
        if takes_block and node.block is None:
            self.error(f'directive "{name}" has no opening "{{"', node.location)
            return node
        if not takes_block and node.block is not None:
            self.error(
                f'directive "{name}" is not terminated by ";" (it is followed by a "{{" '
                f"block at line {node.end_line}, but {name} takes no block)",
                node.location,
            )
            return _with_block(node, self.walk(node.block, _LENIENT))
        if not nd.args_ok(spec, nargs):
            got = f"{nargs} argument{'s' if nargs != 1 else ''}"
            self.error(
                f'invalid number of arguments in "{name}" directive: it '
                f"{nd.describe_args(spec)}, got {got}",
                node.location,
            )
        elif spec.on_off and node.args[0].lower() not in ("on", "off"):
            self.error(
                f'invalid value "{node.args[0]}" in "{name}" directive, it must be "on" or "off"',
                node.arg_location(0),
            )
        else:
            self.validate(node, ctx)
        if node.block is None:
            return node
        found = _CHILD_CTX.get((name, ctx))
        if found is not None:
            child = found
        else:
            child = _DATA if name in nd.DATA_BLOCKS else _CHILD_BY_NAME.get(name, _LENIENT)
        if child in (nd.UPS, nd.SUPS):
            state = _UpstreamState(node)
            self.upstreams.append(state)
            try:
                kids = self.walk(node.block, child)
            finally:
                self.upstreams.pop()
            if state.servers == 0:
                self.error(f'no servers are inside upstream "{" ".join(node.args)}"', node.location)
            return _with_block(node, kids)
        return _with_block(node, self.walk(node.block, child))

    def unknown(self, node: NginxDirective, ctx: int) -> None:
        name = node.name
        newer = nd.NEWER.get(name)
        if newer is not None:
            self.error(
                f'unknown directive "{name}": it was added in nginx {newer}, and this '
                "config is checked against nginx 1.22",
                node.location,
            )
            return
        removed = nd.REMOVED.get(name)
        if removed is not None:
            self.error(f'unknown directive "{name}": {removed}', node.location)
            return
        where = nd.other_module(name)
        if where is not None:
            self.env(
                f'unknown directive "{name}" in nginx 1.22 as built by Debian (nginx-light): '
                f"it comes from {where}; load that module or remove the directive",
                node.location,
            )
            return
        hint = _did_you_mean(name, ctx)
        self.error(f'unknown directive "{name}"{hint}', node.location)

    def not_allowed(self, node: NginxDirective, ctx: int, specs: tuple[nd.Spec, ...]) -> None:
        name = node.name
        if name == "resolver" and ctx & (nd.UPS | nd.SUPS):
            self.env(
                '"resolver" inside an upstream block needs NGINX Plus (open-source nginx '
                "accepts it only from 1.27.3); 1.22 says it is not allowed here",
                node.location,
            )
            return
        allowed: list[str] = []
        for spec in specs:
            for cname in nd.context_names(spec.contexts):
                if cname not in allowed:
                    allowed.append(cname)
        here = _ctx_name(ctx)
        self.error(
            f'"{name}" directive is not allowed here (in {here}); '
            f"it is allowed in: {', '.join(allowed)}",
            node.location,
        )

    # -- directive-specific checks nginx makes while reading the file
    def validate(self, node: NginxDirective, ctx: int) -> None:
        name = node.name
        if ctx in (nd.UPS, nd.SUPS) and self.upstreams:
            state = self.upstreams[-1]
            if name == "server":
                state.servers += 1
                self.upstream_server(node, state, stream=ctx == nd.SUPS)
            elif name in ("hash", "ip_hash", "least_conn", "random"):
                self.method(node, state)
        elif name == "if":
            self.if_condition(node)
        elif name == "listen":
            self.listen(node, stream=ctx == nd.SSRV)
        elif name == "location":
            if len(node.args) == 2 and node.args[0] not in ("=", "~", "~*", "^~"):
                self.error(f'invalid location modifier "{node.args[0]}"', node.arg_location(0))
        elif name == "proxy_pass" and ctx & (nd.LOC | nd.LIF | nd.LMT):
            url = node.args[0]
            if "$" not in url and not url.lower().startswith(("http://", "https://")):
                self.error(
                    f'invalid URL prefix in "{url}": proxy_pass needs http:// or https:// '
                    "(or a variable)",
                    node.arg_location(0),
                )
        elif name == "worker_processes":
            value = node.args[0]
            if value != "auto" and not _INT_RE.match(value):
                self.error(f'invalid value "{value}" in "worker_processes"', node.arg_location(0))

    def method(self, node: NginxDirective, state: _UpstreamState) -> None:
        name = node.name
        if state.method is not None:
            self.add(
                Finding(
                    PARSE,
                    "balancing-method-redefined",
                    Severity.WARNING,
                    f'load balancing method redefined: "{name}" replaces "{state.method}" '
                    f"(line {state.method_node.line if state.method_node else 0})",
                    node.location,
                )
            )
        state.method = name
        state.method_node = node
        state.backup_ok = name == "least_conn"
        args = node.args
        if name == "hash" and len(args) == 2 and args[1] != "consistent":
            self.error(
                f'invalid parameter "{args[1]}": hash takes a key and optionally "consistent"',
                node.arg_location(1),
            )
        elif name == "random" and args:
            if args[0] != "two":
                self.error(f'invalid parameter "{args[0]}"', node.arg_location(0))
            elif len(args) == 2 and args[1] != "least_conn":
                self.error(f'invalid parameter "{args[1]}"', node.arg_location(1))

    def upstream_server(self, node: NginxDirective, state: _UpstreamState, stream: bool) -> None:
        problems = self._param_problems
        backup_ok = state.backup_ok
        for i, word in enumerate(node.args[1:], start=1):
            key = (word, backup_ok)
            if key in problems:
                problem = problems[key]
            else:
                problem = problems[key] = _server_param_problem(word, backup_ok)
            if problem is None:
                continue
            kind, message = problem
            if kind == "plus":
                self.env(message, node.arg_location(i), Severity.WARNING)
            elif kind == "order":
                where = state.method_node.line if state.method_node else node.line
                self.error(
                    f'balancing method does not support parameter "{word}": "{state.method}" '
                    f"(line {where}) ignores backup servers; nginx checks this only for "
                    "servers listed after the method, so move the method or drop backup",
                    node.arg_location(i),
                )
            else:
                self.error(message, node.arg_location(i))
            return
        address = node.args[0]
        problem_text = _address_problem(address, stream)
        if problem_text is not None:
            hint = ""
            if "$" in address:
                hint = " (it looks like an unrendered template placeholder)"
            self.error(f'{problem_text} in upstream "{address}"{hint}', node.arg_location(0))

    def if_condition(self, node: NginxDirective) -> None:
        problem = _if_problem(list(node.args))
        if problem is not None:
            self.error(problem, node.location)

    def listen(self, node: NginxDirective, stream: bool) -> None:
        allowed = _STREAM_LISTEN_PARAMS if stream else _HTTP_LISTEN_PARAMS
        for i, word in enumerate(node.args[1:], start=1):
            if any(word == p or (p.endswith("=") and word.startswith(p)) for p in allowed):
                continue
            newer = _LISTEN_NEWER.get(word)
            extra = f" (listen ... {word} needs nginx {newer})" if newer else ""
            self.error(f'invalid parameter "{word}" in "listen"{extra}', node.arg_location(i))
            return


def _with_block(node: NginxDirective, block: list[NginxDirective]) -> NginxDirective:
    if block is node.block:
        return node
    return NginxDirective(
        node.name,
        node.args,
        node.line,
        node.column,
        node.file,
        block,
        node.arg_positions,
        node.arg_quoted,
        node.terminated,
        node.end_line,
        node.end_column,
        node.close_line,
    )


def _ctx_name(ctx: int) -> str:
    return nd.CONTEXT_NAMES.get(ctx, "this block")


def _allowed_names(ctx: int) -> list[str]:
    return [n for n, specs in nd.DIRECTIVES.items() if any(s.contexts & ctx for s in specs)]


def _did_you_mean(name: str, ctx: int) -> str:
    import difflib

    here = _allowed_names(ctx)
    matches = difflib.get_close_matches(name, here, n=1, cutoff=0.75)
    if not matches:
        matches = difflib.get_close_matches(name, list(nd.DIRECTIVES), n=1, cutoff=0.8)
    return f'; did you mean "{matches[0]}"?' if matches else ""


def _split_point(node: NginxDirective, ctx: int) -> int | None:
    """Index of an argument that is really the next directive (its line lost the ';').

    Only an unquoted word that starts a later line and names a directive valid in this
    context counts, so multi-line log_format strings and server_name lists never split.
    """
    if node.raw or not node.args:
        return None  # a one-line statement cannot have swallowed the next line
    positions = node.arg_positions
    if positions[-1][0] == node.line:
        return None
    prev_line = node.line
    for i, (line, _) in enumerate(positions):
        if line != prev_line and not node.arg_quoted[i]:
            specs = nd.DIRECTIVES.get(node.args[i])
            if specs is not None and any(s.contexts & ctx for s in specs):
                return i
        prev_line = line
    return None


def _server_param_problem(word: str, backup_ok: bool) -> tuple[str, str] | None:
    """(kind, message) for an invalid upstream server parameter, None when valid."""
    for key in ("weight=", "max_conns=", "max_fails="):
        if word.startswith(key):
            value = word[len(key) :]
            if not _INT_RE.match(value) or (key == "weight=" and int(value) == 0):
                why = " (weight must be 1 or more)" if key == "weight=" else ""
                return "invalid", f'invalid parameter "{word}"{why}'
            return None
    if word.startswith("fail_timeout="):
        if not _TIME_RE.match(word[13:]) or "ms" in word[13:]:
            return "invalid", f'invalid parameter "{word}" (fail_timeout takes a time: 10s, 1m)'
        return None
    if word == "backup":
        return None if backup_ok else ("order", "")
    if word == "down":
        return None
    for plus in _PLUS_SERVER_PARAMS:
        if word == plus or (plus.endswith("=") and word.startswith(plus)):
            return "plus", (
                f'invalid parameter "{word}": an NGINX Plus server parameter that '
                "open-source nginx 1.22 rejects"
            )
    return "invalid", f'invalid parameter "{word}"'


def split_address(address: str, default_port: int | None) -> tuple[str | None, int | None, str]:
    """(host, port, error) following ngx_parse_url for an upstream server address."""
    # The common "host:port" (one colon, ASCII digits, no path, not unix: or [v6]),
    # once per server line: the same answer as the general case below, sooner.
    name, sep, digits = address.partition(":")
    if (
        sep
        and name
        and digits.isdigit()
        and digits.isascii()
        and name[0] != "["
        and "/" not in name
        and "?" not in name
        and name.lower() != "unix"
    ):
        number = int(digits)
        if 1 <= number <= 65535:
            return name, number, ""
    if address[:5].lower() == "unix:":
        return address, None, "" if len(address) > 5 else "no path in the unix domain socket"
    if address.startswith("["):
        close = address.find("]")
        if close < 0:
            return None, None, "invalid host"
        host = address[1:close]
        rest = address[close + 1 :]
        if not rest:
            return host, default_port, "" if default_port else "no port"
        if not rest.startswith(":"):
            return host, None, "invalid host"
        port_text = rest[1:]
    else:
        colon = address.find(":")
        if "/" in address or "?" in address:
            return None, None, "invalid host"
        if colon < 0:
            if not address:
                return None, None, "no host"
            return address, default_port, "" if default_port else "no port"
        host = address[:colon]
        port_text = address[colon + 1 :]
        if not host:
            # ":80": nginx parses the port first, then has no host.
            if not _INT_RE.match(port_text) or not 1 <= int(port_text) <= 65535:
                return None, None, "invalid port"
            return None, int(port_text), "no host"
    if not _INT_RE.match(port_text) or not 1 <= int(port_text) <= 65535:
        return host or None, None, "invalid port"
    return host, int(port_text), ""


def _address_problem(address: str, stream: bool) -> str | None:
    _, _, err = split_address(address, None if stream else 80)
    return err or None


def _if_problem(args: list[str]) -> str | None:
    """nginx's ngx_http_rewrite_if_condition checks, as an error message or None."""
    if not args or not args[0].startswith("("):
        return f'invalid condition "{args[0] if args else ""}": conditions are written (...)'
    if args[0] == "(":
        cur = 1
    else:
        cur = 0
        args[0] = args[0][1:]
    last = len(args) - 1
    if not args[last].endswith(")"):
        return f'invalid condition "{args[last]}": missing ")"'
    if args[last] == ")":
        last -= 1
    else:
        args[last] = args[last][:-1]
    if cur > last:
        return 'invalid condition "()"'
    word = args[cur]
    if len(word) > 1 and word[0] == "$":
        if cur != last and cur + 2 != last:
            return f'invalid condition "{word}"'
        if cur == last:
            return None
        op = args[cur + 1]
        if op in ("=", "!=", "~", "~*", "!~", "!~*"):
            return None
        return f'unexpected "{op}" in condition'
    if (len(word) == 2 and word[0] == "-") or (len(word) == 3 and word[:2] == "!-"):
        if cur + 1 != last:
            return f'invalid condition "{word}"'
        if word[-1] in "fdex":
            return None
        return f'invalid condition "{word}"'
    return (
        f'invalid condition "{word}": a condition is a $variable, a comparison '
        "($var = value, ~ regex) or a file test (-f, -d, -e, -x)"
    )


# ---------------------------------------------------------------- context detection


def _ctx_score(nodes: list[NginxDirective], ctx: int, budget: int = 2000) -> int:
    """How many directives would be in the wrong context (or wrongly block/non-block)
    if the fragment were included in `ctx`; stops counting past `budget` nodes."""
    bad = 0
    stack = [(nodes, ctx)]
    seen = 0
    while stack and seen < budget:
        items, c = stack.pop()
        for node in items:
            seen += 1
            specs = nd.DIRECTIVES.get(node.name)
            if specs is None:
                continue
            spec = next((s for s in specs if s.contexts & c), None)
            if spec is None or spec.block != (node.block is not None):
                bad += 1
                continue
            if node.block is not None:
                child = _CHILD_CTX.get((node.name, c))
                if child is not None:
                    stack.append((node.block, child))
    return bad


_TOP_LEVEL = frozenset({"events", "http", "stream", "mail"})


def detect_context(nodes: list[NginxDirective], path: str = "") -> str:
    """Guess where a fragment is included from, as the corpus wrappers did.

    A whole config (events/http/stream/mail at top level) is "main". Otherwise the
    first of server, http, location, stream, upstream in which no directive is out of
    place wins: bare directives and location blocks read as a server fragment, upstream
    and server blocks as http, stream servers as stream, bare server lines as upstream.
    A tie between http and stream (a server block with only `listen`) goes to stream
    when the file name says so (stream.conf, conf.d/stream-*.conf).
    """
    if any(n.name in _TOP_LEVEL for n in nodes) or not nodes:
        return "main"
    order = ("server", "http", "location", "stream", "upstream")
    scores = {name: _ctx_score(nodes, CONTEXTS[name]) for name in order}
    best = min(order, key=lambda name: (scores[name], order.index(name)))
    stream_name = re.search(r"(?<!up)stream", os.path.basename(path).lower()) is not None
    if best == "http" and scores["stream"] == 0 and stream_name:
        return "stream"
    return best


def check_tree(
    files: Sequence[NginxFile], *, conf_dir: str, context: str | None = None
) -> CheckResult:
    """Check already-parsed top-level files (following includes); see the module doc."""
    checker = _Checker(conf_dir)
    tree: list[NginxDirective] = []
    chosen = context or "main"
    for f in files:
        real = os.path.realpath(f.path)
        if real not in checker.files:
            checker.register(real, f)
        ctx_name = context if context is not None else detect_context(f.directives, f.path)
        chosen = ctx_name
        ctx = CONTEXTS[ctx_name]
        checker.include_stack.append(real)
        if ctx in (nd.UPS, nd.SUPS):
            checker.upstreams.append(_UpstreamState(NginxDirective("upstream", (), 1, 1, f.path)))
        try:
            body = checker.walk(f.directives, ctx)
        finally:
            checker.include_stack.pop()
            if ctx in (nd.UPS, nd.SUPS):
                checker.upstreams.pop()
        tree.extend(_wrap(body, ctx_name, f.path))
    return CheckResult(tree, checker.findings, checker.files, chosen)


def _synthetic(name: str, args: tuple[str, ...], path: str, block: list[NginxDirective]) -> Any:
    return NginxDirective(name, args, 1, 1, path, block)


def _wrap(body: list[NginxDirective], ctx_name: str, path: str) -> list[NginxDirective]:
    """Put a fragment inside the blocks it is included from, so the model sees a whole
    config (the wrapper nodes sit at line 1 of the fragment)."""
    if ctx_name == "main":
        return body
    if ctx_name == "http":
        return [_synthetic("http", (), path, body)]
    if ctx_name == "stream":
        return [_synthetic("stream", (), path, body)]
    if ctx_name == "upstream":
        name = Path(path).stem or "fragment"
        return [_synthetic("http", (), path, [_synthetic("upstream", (name,), path, body)])]
    if ctx_name == "server":
        return [_synthetic("http", (), path, [_synthetic("server", (), path, body)])]
    loc = _synthetic("location", ("/",), path, body)
    return [_synthetic("http", (), path, [_synthetic("server", (), path, [loc])])]


# -------------------------------------------------------------------------- model


def _int(text: str | None, default: int) -> int:
    if text is not None and _INT_RE.match(text):
        return int(text)
    return default


class _ModelBuilder:
    """Turns the checked, include-expanded tree into the balancer-neutral model."""

    def __init__(self) -> None:
        self.pools: list[Pool] = []
        self.frontends: list[Frontend] = []
        self.sections: list[Section] = []
        self.findings: list[Finding] = []
        self.workers = 1
        self.worker_setting: Setting | None = None
        self.unresolved: list[tuple[str, Location]] = []
        self._pending_routes: list[tuple[str, int, str, NginxDirective, str | None, bool]] = []
        # What a server's parameters make of it, by the parameters as written: a big
        # config repeats a handful of parameter lists on thousands of lines.
        self._server_fields: dict[tuple[str, ...], _ServerFields] = {}

    def build(self, tree: list[NginxDirective]) -> None:
        main_directives: list[NginxDirective] = []
        for node in tree:
            if node.name == "worker_processes" and node.args:
                value = node.args[0]
                loc = node.location
                if value == "auto":
                    self.worker_setting = Setting("auto", loc)
                    self.findings.append(
                        Finding(
                            CONFIG,
                            "worker-processes-auto",
                            Severity.INFO,
                            "worker_processes auto: the number of workers (and so of "
                            "independent round-robin schedulers) depends on the CPU count; "
                            "lbguard assumes 1",
                            loc,
                        )
                    )
                elif _INT_RE.match(value):
                    self.workers = max(int(value), 1)
                    self.worker_setting = Setting(value, loc)
            if node.block is None:
                main_directives.append(node)
        if main_directives:
            self.sections.append(
                Section("main", "", main_directives[0].location, _directives(main_directives))
            )
        for node in tree:
            if node.block is None:
                continue
            if node.name == "http":
                self.block_section("http", "", node)
                self.protocol(node.block, "http")
            elif node.name == "stream":
                self.block_section("stream", "", node)
                self.protocol(node.block, "tcp")
            elif node.name == "events":
                self.block_section("events", "", node)

    def block_section(self, kind: str, name: str, node: NginxDirective) -> None:
        self.sections.append(Section(kind, name, node.location, _directives(node.block or [])))

    def protocol(self, nodes: list[NginxDirective], mode: str) -> None:
        upstream_names: set[str] = set()
        for node in nodes:
            if node.name == "upstream" and node.block is not None and node.args:
                upstream_names.add(node.args[0])
                pool = self.pool(node, mode)
                self.pools.append(pool)
                self.sections.append(Section("upstream", pool.name, pool.location, pool.directives))
        for node in nodes:
            if node.name == "server" and node.block is not None:
                self.frontends.append(self.frontend(node, mode, upstream_names))

    def pool(self, node: NginxDirective, mode: str) -> Pool:
        name = node.args[0]
        balance = Balance("round_robin", node.location)
        servers: list[Server] = []
        flags: dict[str, Setting] = {}
        directives: list[Directive] = []
        for child in node.block or []:
            model = child.to_model()
            directives.append(model)
            kind = child.name
            if kind == "server" and child.args and child.block is None:
                servers.append(self.server(child, model, mode))
            elif kind in ("hash", "ip_hash", "least_conn", "random"):
                balance = _balance(child)
            elif kind in ("zone", "keepalive", "keepalive_timeout", "keepalive_requests"):
                flags[kind] = Setting(" ".join(child.args), model.location)
        if self.worker_setting is not None:
            flags["worker_processes"] = self.worker_setting
        passive = any(s.max_fails is None or s.max_fails > 0 for s in servers)
        health = HealthCheck("passive" if passive else "none")
        return Pool(
            name=name,
            kind="upstream",
            location=node.location,
            balance=balance,
            servers=tuple(servers),
            mode=mode,
            health=health,
            flags=MappingProxyType(flags),
            directives=tuple(directives),
            workers=self.workers,
        )

    def server(self, node: NginxDirective, model: Directive, mode: str) -> Server:
        address = node.args[0]
        host, port, _ = split_address(address, 80 if mode == "http" else None)
        if "$" in address:
            for m in _PLACEHOLDER_RE.finditer(address):
                self.unresolved.append((m.group(1), node.arg_location(0)))
        params = node.args[1:]
        fields = self._server_fields.get(params)
        if fields is None:
            fields = self._server_fields[params] = _server_fields(params)
        options, weight, backup, down, max_conns, max_fails = fields
        loc = model.location
        col = model.arg_columns[0] if model.arg_columns else 0
        if col:
            # Directive.arg_location(0), built with the fast constructor.
            line = loc.line
            address_loc = _new_location(loc.path, line, col, line, col + max(len(address), 1) - 1)
        else:
            address_loc = model.arg_location(0)
        # Positional, in Server's field order: this runs once per upstream server line.
        return _new_server(
            address,
            host,
            port,
            loc,
            weight,
            backup,
            down,
            False,
            max_conns,
            None,
            None,
            False,
            options,
            None,
            address,
            max_fails,
            address_loc,
        )

    def frontend(self, node: NginxDirective, mode: str, upstreams: set[str]) -> Frontend:
        body = node.block or []
        binds: list[Bind] = []
        names: list[str] = []
        for child in body:
            if child.name == "listen" and child.args:
                binds.append(Bind(child.args[0], child.location, child.args[1:]))
            elif child.name == "server_name":
                names.extend(child.args)
        if names:
            fe_name = names[0]
        elif binds:
            fe_name = binds[0].address
        else:
            fe_name = f"server at line {node.line}"
        directives = _directives(body)
        self.sections.append(Section("server", fe_name, node.location, directives))
        routes: list[Route] = []
        self.routes(body, None, upstreams, routes, mode)
        return Frontend(
            name=fe_name,
            kind="server",
            location=node.location,
            binds=tuple(binds),
            routes=tuple(routes),
            mode=mode,
            directives=directives,
        )

    def routes(
        self,
        body: list[NginxDirective],
        condition: str | None,
        upstreams: set[str],
        out: list[Route],
        mode: str,
    ) -> None:
        for child in body:
            if child.name in _ROUTE_DIRECTIVES and child.args and child.block is None:
                target = _pass_target(child.name, child.args[0])
                if target not in upstreams and "$" not in target:
                    self.implicit_pool(target, child, mode)
                default = condition is None or condition == "/"
                out.append(Route(target, child.location, condition, default))
            elif child.block is not None and child.name in ("location", "if", "limit_except"):
                if child.name == "location":
                    cond = " ".join(child.args)
                    self.sections.append(
                        Section("location", cond, child.location, _directives(child.block))
                    )
                else:
                    cond = f"{condition or ''} {child.name} {' '.join(child.args)}".strip()
                    self.sections.append(
                        Section(
                            child.name,
                            " ".join(child.args),
                            child.location,
                            _directives(child.block),
                        )
                    )
                self.routes(child.block, cond, upstreams, out, mode)

    def implicit_pool(self, target: str, node: NginxDirective, mode: str) -> None:
        if any(p.name == target for p in self.pools):
            return
        if target.startswith("unix:"):
            host: str | None = target
            port: int | None = None
        else:
            default = 80 if node.name == "proxy_pass" else None
            host, port, _ = split_address(target, default)
        server = Server(
            name=target, address=host, port=port, location=node.location, address_text=target
        )
        self.pools.append(
            Pool(
                name=target,
                kind="upstream",
                location=node.location,
                balance=Balance("round_robin", node.location),
                servers=(server,),
                mode=mode,
                health=HealthCheck("passive"),
                workers=self.workers,
                implicit=True,
            )
        )


# (options as written, weight, backup, down, max_conns, max_fails) of an upstream server.
_ServerFields = tuple[tuple[tuple[str, str | None], ...], int, bool, bool, int | None, int | None]


def _server_fields(params: tuple[str, ...]) -> _ServerFields:
    options: list[tuple[str, str | None]] = []
    for word in params:
        key, eq, value = word.partition("=")
        options.append((key, value if eq else None))
    opts = dict(options)
    max_conns = _int(opts.get("max_conns"), 0)
    return (
        tuple(options),
        _int(opts.get("weight"), 1),
        "backup" in opts,
        "down" in opts,
        max_conns or None,
        _int(opts["max_fails"], 1) if "max_fails" in opts else None,
    )


def _pass_target(name: str, url: str) -> str:
    """The upstream name or literal host:port a *_pass directive sends to."""
    if name == "memcached_pass" or name == "fastcgi_pass" or name == "scgi_pass":
        target = url
    else:
        target = _SCHEME_RE.sub("", url, count=1)
    if target.startswith("unix:"):
        return "unix:" + target[5:].split(":", 1)[0]
    for stop in ("/", "?"):
        cut = target.find(stop)
        if cut >= 0:
            target = target[:cut]
    return target


def _balance(node: NginxDirective) -> Balance:
    args = node.args
    if node.name == "hash":
        return Balance(
            "hash",
            node.location,
            args,
            key=args[0] if args else None,
            hash_type="consistent" if len(args) > 1 and args[1] == "consistent" else "map-based",
        )
    if node.name == "ip_hash":
        return Balance("ip_hash", node.location, args, key="$remote_addr")
    return Balance(node.name, node.location, args)


def _directives(nodes: Iterable[NginxDirective]) -> tuple[Directive, ...]:
    return tuple(n.to_model() for n in nodes)


def _iter_files(paths: Sequence[str | os.PathLike[str]]) -> Iterator[str]:
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith(".conf"))
            files = [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]
            if not files:
                raise ConfigReadError(f"{path}: directory has no *.conf files")
            yield from files
        else:
            yield path


def parse_nginx(
    paths: Sequence[str | os.PathLike[str]],
    *,
    prefix: str | None = None,
    context: str | None = None,
) -> tuple[Config, list[Finding]]:
    """Parse nginx config files into the shared model plus every finding.

    `prefix` is nginx's conf directory (where nginx.conf lives): relative ``include``
    paths resolve against it, as they do for ``nginx -c PREFIX/nginx.conf``. It
    defaults to the directory of the first file. `context` says where fragments are
    included from ("http", "server", "location", "upstream", "stream"; "main" or None
    for whole configs, None also auto-detects fragments). Unreadable top-level files
    raise ConfigReadError; everything else is a finding.
    """
    if context is not None and context not in CONTEXTS:
        raise ValueError(f"unknown context {context!r}; use one of {', '.join(CONTEXTS)}")
    # The parse allocates millions of acyclic objects; CPython's cyclic collector would
    # rescan them over and over (a third of the time on a 100k-line config) and can
    # free nothing, so it is paused for the duration.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_nginx(paths, prefix=prefix, context=context)
    finally:
        if was_enabled:
            gc.enable()


def _final(files: Sequence[NginxFile]) -> bool:
    """Whether checking would hand back the trees as they are, only reporting.

    It changes a tree in two ways: an ``include`` is replaced by the included files,
    and a directive that ran into the next line (a missing ';') is split in two.
    Neither can happen without an ``include`` or a directive spread over lines.
    """
    stack = [f.directives for f in files]
    while stack:
        for node in stack.pop():
            if node.name == "include":
                return False
            if not node.raw and node.args and node.arg_positions[-1][0] != node.line:
                return False
            if node.block:
                stack.append(node.block)
    return True


def _unchecked(files: Sequence[NginxFile], context: str | None) -> CheckResult:
    """What `check_tree` returns for `_final` trees, less the findings: no walk at all."""
    tree: list[NginxDirective] = []
    registered: dict[str, NginxFile] = {}
    chosen = context or "main"
    for f in files:
        registered.setdefault(os.path.realpath(f.path), f)
        chosen = context if context is not None else detect_context(f.directives, f.path)
        tree.extend(_wrap(f.directives, chosen, f.path))
    return CheckResult(tree, [], registered, chosen)


def _parse_nginx(
    paths: Sequence[str | os.PathLike[str]], *, prefix: str | None, context: str | None
) -> tuple[Config, list[Finding]]:
    files = [parse_file(p) for p in _iter_files(paths)]
    if not files:
        raise ConfigReadError("no nginx config files given")
    conf_dir = prefix if prefix is not None else os.path.dirname(os.path.abspath(files[0].path))
    builder = _ModelBuilder()
    if sum(f.lines for f in files) >= PARALLEL_CHECK_LINES and can_fork() and _final(files):
        # Checking only reports here (see `_final`): it runs in a forked child while
        # the model is built from the same tree (see lbguard.forked).
        checking = Background(
            lambda: check_tree(files, conf_dir=conf_dir, context=context).findings
        )
        result = _unchecked(files, context)
        builder.build(result.tree)
        result.findings = checking.result()
    else:
        result = check_tree(files, conf_dir=conf_dir, context=context)
        builder.build(result.tree)
    comments: list[tuple[Location, str]] = []
    sources: list[SourceFile] = []
    for parsed in result.files.values():
        sources.append(SourceFile(parsed.path, parsed.sha256, parsed.lines))
        comments.extend(parsed.comments)
    config = Config(
        dialect=Dialect.NGINX,
        files=tuple(sources),
        pools=tuple(builder.pools),
        frontends=tuple(builder.frontends),
        sections=tuple(builder.sections),
        unresolved_env=tuple(builder.unresolved),
        comments=tuple(comments),
        fragment=result.context != "main",
    )
    findings = [*result.findings, *builder.findings]
    findings.sort(key=Finding.sort_key)
    return config, findings
