"""LBG301: a route names a pool that does not exist."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Frontend
from lbguard.rules.base import Rule, RuleContext
from lbguard.suggest import did_you_mean


class UndefinedBackend(Rule):
    """`use_backend` or `default_backend` names a backend that does not exist.

    ## What it does
    Checks that every statically named backend in `use_backend` and
    `default_backend` is defined by a `backend` or `listen` section.

    ## Why is this bad?
    HAProxy refuses to start, so a reload keeps the old config running and the change
    silently never applies, or a fresh start fails outright.

    ## Example
    ```haproxy
    frontend web
        bind :80
        default_backend ap
    backend app
        server web-01 10.0.0.1:80 check
    ```

    ## Use instead
    ```haproxy
    frontend web
        bind :80
        default_backend app
    ```
    """

    code = "LBG301"
    name = "undefined-backend"
    severity = Severity.ERROR
    target = "frontend"
    dialects = frozenset({Dialect.HAPROXY})

    def check_frontend(self, frontend: Frontend, ctx: RuleContext) -> Iterator[Finding]:
        names = {p.name for p in ctx.config.pools}
        for route in frontend.routes:
            if route.pool in names or "%[" in route.pool or "$" in route.pool:
                continue
            if frontend.kind == "listen" and route.pool == frontend.name:
                continue
            keyword = "default_backend" if route.default else "use_backend"
            yield self.finding(
                f"{keyword} in {frontend.kind} '{frontend.name}' names backend "
                f"'{route.pool}', which is not defined{did_you_mean(route.pool, names)}",
                route.location,
                context=(f"{frontend.kind} {frontend.name}",),
            )
