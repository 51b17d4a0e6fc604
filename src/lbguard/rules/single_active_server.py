"""LBG101: a pool that takes traffic has exactly one server that can receive it."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class SingleActiveServer(Rule):
    """A pool sends all its traffic to one server although others are defined.

    ## What it does
    Finds pools with two or more servers where exactly one can receive traffic while all
    servers are healthy, because the others are marked `backup`, `disabled`/`down`, or
    have weight 0.

    ## Why is this bad?
    The one active server takes 100% of the load. When traffic grows it falls over,
    and only then do the backups take over, after users have seen errors. This is the
    most common way a small config edit concentrates all traffic on one server.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check backup
        server web-03 10.0.0.3:80 check backup
    ```

    ## Use instead
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
        server web-03 10.0.0.3:80 check
    ```
    If an active/standby pair is what you want (a primary database, say), suppress the
    finding with a reason: `# lbguard: ignore=LBG101 primary/replica by design`.
    """

    code = "LBG101"
    name = "single-active-server"
    severity = Severity.WARNING
    target = "pool"

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if len(pool.servers) < 2:
            return
        # The cheapest test first: nearly every pool has more than one active server.
        active = [s for s in pool.servers if not s.backup and not s.disabled and s.weight > 0]
        if len(active) != 1 or not ctx.receives_traffic(pool):
            return
        if any(s.template_count and s.template_count > 1 for s in pool.servers):
            return
        only = active[0]
        others = [s for s in pool.servers if s is not only]
        reasons = []
        for s in others:
            if s.disabled:
                reasons.append(f"{s.name} is {'down' if pool.kind == 'upstream' else 'disabled'}")
            elif s.backup:
                reasons.append(f"{s.name} is backup")
            elif s.weight == 0:
                reasons.append(f"{s.name} has weight 0")
        shown = ", ".join(reasons[:4]) + (
            f" and {len(reasons) - 4} more" if len(reasons) > 4 else ""
        )
        yield self.finding(
            f"{pool.kind} '{pool.name}' sends 100% of its traffic to {only.name} "
            f"({only.endpoint or 'no address'}): {shown}",
            only.location,
            context=pool_context(pool),
            fix="remove 'backup'/'disabled' or set a weight on the other servers, or suppress "
            "with a reason if this is an intended active/standby pair",
        )
