"""LBG103: one server's weight gives it most of the pool's traffic."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Pool
from lbguard.rules.base import Option, Rule, RuleContext, percent, server_context


class DominantWeight(Rule):
    """One server's weight gives it more than the allowed share of the pool.

    ## What it does
    In pools of three or more serving servers, computes each server's share of the
    active weight (w / Σw) and reports a server above `max-share` (default 60%).

    ## Why is this bad?
    A weight typo (`weight 100` instead of `10`) makes one server take most of the
    traffic while the others idle. That server saturates first and the pool fails
    long before its real capacity.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 weight 100
        server web-02 10.0.0.2:80 weight 10
        server web-03 10.0.0.3:80 weight 10
    ```

    ## Use instead
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 weight 10
        server web-02 10.0.0.2:80 weight 10
        server web-03 10.0.0.3:80 weight 10
    ```

    ## Options
    - `max-share` (float, default 0.6): the largest share one server may have.
    - `min-servers` (int, default 3): pools with fewer serving servers are skipped.
    """

    code = "LBG103"
    name = "dominant-weight"
    severity = Severity.WARNING
    target = "pool"
    options = (
        Option("max-share", float, 0.6, "largest share of the active weight one server may have"),
        Option("min-servers", int, 3, "pools with fewer serving servers are not checked"),
    )

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        serving = ctx.serving_servers(pool)
        if len(serving) < int(ctx.options["min-servers"]):
            return
        total = sum(s.weight for s in serving)
        limit = float(ctx.options["max-share"])
        for server in serving:
            share = server.weight / total
            if share > limit:
                yield self.finding(
                    f"{server.name} gets {percent(share)} of {pool.kind} '{pool.name}' "
                    f"(weight {server.weight} of {total}), above the {percent(limit)} limit",
                    server.location,
                    context=server_context(pool, server.name),
                    fix="check the weight for a typo; weights are relative to the other servers",
                )
