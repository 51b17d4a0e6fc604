"""Secrets never leave lbguard: passwords and credentials are masked in every output.

Redaction works from the parsed model (which words are secrets) and is applied to
the whole report (messages, contexts and the source lines used for code frames), so
no output format can leak what another masks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from lbguard.findings import Finding
from lbguard.model import Config, Directive

MASK = "********"
_AUTH_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "http_authorization",
        "http_proxy_authorization",
        "http_cookie",
        "http_x_api_key",
    }
)
_HEADER_DIRECTIVES = frozenset(
    {
        "proxy_set_header",
        "add_header",
        "grpc_set_header",
        "fastcgi_param",
        "uwsgi_param",
        "scgi_param",
        "more_set_headers",
    }
)


def secret_words(config: Config) -> set[str]:
    """Every word in the config that is a password, credential or token."""
    secrets: set[str] = set()
    directives: list[Directive] = []
    for section in config.sections:
        directives.extend(section.directives)
        if section.kind == "userlist":
            for d in section.directives:
                args = d.args
                for i, word in enumerate(args[:-1]):
                    if word in ("password", "insecure-password"):
                        secrets.add(args[i + 1])
    for fe in config.frontends:
        directives.extend(fe.directives)
    for pool in config.pools:
        directives.extend(pool.directives)
    for d in directives:
        # Most directives of a big config (timeouts, balance, use_backend...) cannot
        # hold a secret: skip the call for them.
        if d.name in _MAY_HOLD_SECRETS:
            secrets.update(_directive_secrets(d))
    return {s for s in secrets if len(s) >= 3}


# Every directive name `_directive_secrets` looks at; it returns nothing for the rest.
_MAY_HOLD_SECRETS = frozenset(
    {"stats", "user", "insecure-password", "http-request", "mysql-check", "option"}
    | _HEADER_DIRECTIVES
)


def _directive_secrets(d: Directive) -> list[str]:
    args = d.args
    out: list[str] = []
    if d.name == "stats" and len(args) >= 2 and args[0] == "auth":
        _user, _, password = args[1].partition(":")
        out.append(args[1])
        if password:
            out.append(password)
    elif d.name in ("user",) and "password" in args:
        i = args.index("password")
        if i + 1 < len(args):
            out.append(args[i + 1])
    elif d.name in ("insecure-password",) and args:
        out.append(args[0])
    elif d.name in _HEADER_DIRECTIVES and len(args) >= 2:
        if args[0].lower() in _AUTH_HEADERS:
            out.append(" ".join(args[1:]))
            out.extend(args[1:])
    elif d.name == "http-request" and len(args) >= 3 and args[0] in ("set-header", "add-header"):
        if args[1].lower() in _AUTH_HEADERS:
            out.append(args[2])
    elif d.name in ("mysql-check", "option") and "password" in args:
        i = args.index("password")
        if i + 1 < len(args):
            out.append(args[i + 1])
    return out


def _masker(secrets: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words))


def redact_findings(findings: list[Finding], secrets: Iterable[str]) -> list[Finding]:
    pattern = _masker(secrets)
    if pattern is None:
        return findings
    out = []
    for f in findings:
        message = pattern.sub(MASK, f.message)
        context = tuple(pattern.sub(MASK, c) for c in f.context)
        fix = pattern.sub(MASK, f.fix) if f.fix else f.fix
        out.append(replace(f, message=message, context=context, fix=fix))
    return out


def redact_lines(lines: list[str], secrets: Iterable[str]) -> list[str]:
    pattern = _masker(secrets)
    if pattern is None:
        return lines
    return [pattern.sub(MASK, line) for line in lines]


def redact_url(url: str) -> str:
    """`url` with the password of its user-info masked (http://user:********@host/)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
