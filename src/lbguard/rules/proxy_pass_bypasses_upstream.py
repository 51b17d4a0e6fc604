"""LBG304: proxy_pass to a literal address that an upstream already balances."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Frontend
from lbguard.rules.base import Rule, RuleContext


class ProxyPassBypassesUpstream(Rule):
    """`proxy_pass` to one server's address instead of the upstream that contains it.

    ## What it does
    Finds `proxy_pass` (and the other `*_pass` directives) whose target is a literal
    address that is also a server of an `upstream` block, or whose host part is the
    name of an upstream written with a port (`http://app:8080` when `upstream app`
    exists, which nginx resolves as a host name instead).

    ## Why is this bad?
    Requests on that path skip the pool: they all go to one server, with none of
    the upstream's weights, backups or failover.

    ## Example
    ```nginx
    upstream app { server 10.0.0.1:8080; server 10.0.0.2:8080; }
    server {
        location /api/ { proxy_pass http://10.0.0.1:8080; }
    }
    ```

    ## Use instead
    ```nginx
    server {
        location /api/ { proxy_pass http://app; }
    }
    ```
    """

    code = "LBG304"
    name = "proxy-pass-bypasses-upstream"
    severity = Severity.WARNING
    target = "frontend"
    dialects = frozenset({Dialect.NGINX})

    def check_frontend(self, frontend: Frontend, ctx: RuleContext) -> Iterator[Finding]:
        pools = {p.name: p for p in ctx.config.pools}
        members = ctx.memo("upstream-members", lambda: _members(ctx))
        for route in frontend.routes:
            pool = pools.get(route.pool)
            if pool is None or not pool.implicit or not pool.servers:
                continue
            server = pool.servers[0]
            key = (server.address or "", server.port)
            owner = members.get(key)
            host = route.pool.split(":", 1)[0]
            if owner is None and host in pools and not pools[host].implicit and ":" in route.pool:
                owner = host
            if owner is None:
                continue
            yield self.finding(
                f"'{route.pool}' bypasses upstream '{owner}': these requests all go to one "
                "server, without the upstream's balancing and failover",
                route.location,
                context=(f"server {frontend.name}",),
                fix=f"proxy to the upstream instead (http://{owner})",
            )


def _members(ctx: RuleContext) -> dict[tuple[str, int | None], str]:
    out: dict[tuple[str, int | None], str] = {}
    for pool in ctx.config.pools:
        if pool.implicit or len(pool.servers) < 2:
            continue
        for server in pool.servers:
            out.setdefault((server.address or "", server.port), pool.name)
    return out
