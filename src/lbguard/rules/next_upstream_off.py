"""LBG206: `proxy_next_upstream off` where one failure already ejects a server."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect, Directive, Section
from lbguard.rules.base import Rule, RuleContext


def _scoped_pools(config: Config, section: Section) -> list[str]:
    """Pools routed from inside `section` (a location by its path, else the whole file)."""
    names: list[str] = []
    for fe in config.frontends:
        for route in fe.routes:
            if route.location.path != section.location.path:
                continue
            if route.location.line < section.location.line:
                continue
            if section.kind == "location" and route.condition != section.name:
                continue
            if route.pool not in names:
                names.append(route.pool)
    return names


class NextUpstreamOff(Rule):
    """`proxy_next_upstream off` turns every upstream failure into a client error.

    ## What it does
    Finds `proxy_next_upstream off` (and the grpc/fastcgi/uwsgi/scgi/memcached
    equivalents) in a scope that sends traffic to an upstream of two or more servers
    whose servers use `max_fails=1`, nginx's default.

    ## Why is this bad?
    nginx normally retries a failed request on the next server. With retries off the
    client gets the 502, and with `max_fails=1` that single failure also takes the
    server out for `fail_timeout`, pushing its traffic onto the remaining servers.
    A short blip on one server becomes user-visible errors and a load shift.

    ## Example
    ```nginx
    location / {
        proxy_pass http://app;
        proxy_next_upstream off;
    }
    ```

    ## Use instead
    ```nginx
    location / {
        proxy_pass http://app;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 2;
    }
    ```
    Turn retries off only for requests that must not be repeated, and then give the
    servers `max_fails=3`.
    """

    code = "LBG206"
    name = "next-upstream-off"
    severity = Severity.WARNING
    target = "config"
    dialects = frozenset({Dialect.NGINX})

    def check_config(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        pools = {p.name: p for p in config.pools}
        for section in config.sections:
            for d in section.directives:
                if not _is_next_upstream_off(d):
                    continue
                for name in _scoped_pools(config, section):
                    pool = pools.get(name)
                    if pool is None or len(ctx.serving_servers(pool)) < 2:
                        continue
                    if not all(s.max_fails in (None, 1) for s in ctx.serving_servers(pool)):
                        continue
                    yield self.finding(
                        f"{d.name} off: a failure on a server of upstream '{name}' is returned "
                        "to the client instead of retried, and with max_fails=1 it also ejects "
                        "that server for fail_timeout",
                        d.location,
                        context=(f"{section.kind} {section.name}".strip(),),
                        fix="keep retries on for idempotent requests "
                        "(proxy_next_upstream error timeout) or raise max_fails",
                    )
                    break


def _is_next_upstream_off(d: Directive) -> bool:
    return d.name.endswith("_next_upstream") and d.args == ("off",)
