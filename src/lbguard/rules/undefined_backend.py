"""LBG301: a route names a pool that does not exist."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Frontend
from lbguard.rules.base import Rule, RuleContext
from lbguard.suggest import did_you_mean


class UndefinedBackend(Rule):
    """A route names a backend or upstream that does not exist.

    ## What it does
    HAProxy: checks that every statically named backend in `use_backend` and
    `default_backend` is defined by a `backend` or `listen` section. nginx: reports
    `proxy_pass http://NAME` (and the other `*_pass` directives) where no `upstream
    NAME` exists, NAME is a bare word rather than a host name, and it is a near miss of
    an upstream that does exist (a bare name alone may be a Docker service).

    ## Why is this bad?
    HAProxy refuses to start, so a reload keeps the old config running and the change
    silently never applies, or a fresh start fails outright. nginx tries to resolve
    the misspelt upstream name as a host and fails to start, or worse, resolves it.

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
    dialects = frozenset({Dialect.HAPROXY, Dialect.NGINX})

    def check_frontend(self, frontend: Frontend, ctx: RuleContext) -> Iterator[Finding]:
        if ctx.config.dialect is Dialect.NGINX:
            yield from self._nginx(frontend, ctx)
            return
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

    def _nginx(self, frontend: Frontend, ctx: RuleContext) -> Iterator[Finding]:
        pools = {p.name: p for p in ctx.config.pools}
        upstreams = [p.name for p in ctx.config.pools if not p.implicit]
        for route in frontend.routes:
            pool = pools.get(route.pool)
            if pool is None or not pool.implicit or not _bare_name(route.pool):
                continue
            # A bare name may be a host (a Docker service, say); only a near miss of an
            # upstream that exists is a mistake worth reporting.
            hint = did_you_mean(route.pool, upstreams)
            if not hint:
                continue
            yield self.finding(
                f"'{route.pool}' is not an upstream defined here; nginx will resolve it as a "
                f"host name at startup{hint}",
                route.location,
                context=(f"server {frontend.name}",),
                severity=Severity.WARNING,
            )


def _bare_name(target: str) -> bool:
    """A single-label name without a port: an upstream name, not a resolvable host."""
    return (
        target != "localhost"
        and not target.startswith("unix:")
        and "." not in target
        and ":" not in target
        and "$" not in target
        and bool(target)
    )
