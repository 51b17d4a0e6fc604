"""LBG303: a frontend where some requests match no backend."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Frontend
from lbguard.rules.base import Rule, RuleContext

# Unconditional final actions that answer every request themselves.
_TERMINAL = ("redirect", "return", "deny", "reject", "tarpit", "silent-drop")


def _answers_everything(frontend: Frontend) -> bool:
    for d in frontend.directives:
        args = d.args
        if "if" in args or "unless" in args:
            continue
        if d.name == "redirect":
            return True
        if d.name in ("http-request", "tcp-request") and args:
            action = args[1] if d.name == "tcp-request" and len(args) > 1 else args[0]
            if action in _TERMINAL:
                return True
        if d.name == "use_backend":
            return True
        if d.name == "stats" and args and args[0] in ("enable", "uri"):
            return True
        if d.name == "http-request" and args and args[0] == "use-service":
            return True
    return False


class FrontendWithoutDefaultBackend(Rule):
    """A frontend has no `default_backend` and no catch-all rule.

    ## What it does
    Finds frontends that route some requests with `use_backend ... if ...` but have
    no `default_backend`, no unconditional `use_backend`, and no unconditional
    redirect, return or deny.

    ## Why is this bad?
    A request that matches none of the conditions has nowhere to go and gets a 503.
    A small change in a Host header or path is enough to turn a working site into
    errors.

    ## Example
    ```haproxy
    frontend web
        bind :80
        use_backend app if { hdr(host) -i www.example.com }
    ```

    ## Use instead
    ```haproxy
    frontend web
        bind :80
        use_backend app if { hdr(host) -i www.example.com }
        default_backend app
    ```
    """

    code = "LBG303"
    name = "frontend-without-default-backend"
    severity = Severity.WARNING
    target = "frontend"
    dialects = frozenset({Dialect.HAPROXY})

    def check_frontend(self, frontend: Frontend, ctx: RuleContext) -> Iterator[Finding]:
        if frontend.kind != "frontend" or frontend.default_route is not None:
            return
        if _answers_everything(frontend):
            return
        if not frontend.routes:
            what = "routes no request to a backend"
        else:
            what = "has only conditional use_backend rules"
        yield self.finding(
            f"frontend '{frontend.name}' {what} and no default_backend: requests that match "
            "no rule get a 503",
            frontend.location,
            context=(f"frontend {frontend.name}",),
            fix="add 'default_backend NAME' (or an unconditional redirect/return)",
        )
