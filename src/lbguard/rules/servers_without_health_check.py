"""LBG201: servers in a multi-server pool with no active health check."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class ServersWithoutHealthCheck(Rule):
    """Servers without `check` in a pool of two or more keep receiving traffic when dead.

    ## What it does
    Finds HAProxy pools with two or more servers where some servers lack `check`
    (and `default-server` does not add it).

    ## Why is this bad?
    Without a health check HAProxy never marks the server down. A crashed server
    still gets its share of requests, which fail (or wait for `timeout connect`)
    until someone edits the config.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80
        server web-02 10.0.0.2:80
    ```

    ## Use instead
    ```haproxy
    backend app
        option httpchk GET /healthz
        default-server check inter 2s fall 3 rise 2
        server web-01 10.0.0.1:80
        server web-02 10.0.0.2:80
    ```
    """

    code = "LBG201"
    name = "servers-without-health-check"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        live = [s for s in pool.servers if not s.disabled]
        if len(live) < 2 or not ctx.receives_traffic(pool):
            return
        unchecked = [s for s in live if not s.check]
        if not unchecked:
            return
        names = ", ".join(s.name for s in unchecked[:5])
        more = f" and {len(unchecked) - 5} more" if len(unchecked) > 5 else ""
        what = "no server has" if len(unchecked) == len(live) else f"{names}{more} have"
        yield self.finding(
            f"{pool.kind} '{pool.name}': {what} 'check', so a dead server keeps receiving "
            "its share of requests",
            unchecked[0].location,
            context=pool_context(pool),
            fix="add 'check' to the servers, or 'default-server check' to the backend",
        )
