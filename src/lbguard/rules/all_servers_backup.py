"""LBG102: every server of a pool is a backup."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class AllServersBackup(Rule):
    """Every server in the pool is marked `backup`, so one server takes all traffic.

    ## What it does
    Finds HAProxy backends whose servers are all `backup` without `option allbackups`.

    ## Why is this bad?
    With no active server, HAProxy sends every request to the first backup server
    only. The other backups stay idle until that one fails. The pool behaves like a
    single server.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check backup
        server web-02 10.0.0.2:80 check backup
    ```

    ## Use instead
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
    ```
    or add `option allbackups` if the backups really are meant to share the load.
    """

    code = "LBG102"
    name = "all-servers-backup"
    severity = Severity.ERROR
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        usable = [s for s in pool.servers if not s.disabled]
        if len(usable) < 2 or not all(s.backup for s in usable):
            return
        if pool.has_flag("allbackups") or not ctx.receives_traffic(pool):
            return
        first = next((s for s in usable if s.weight > 0), usable[0])
        yield self.finding(
            f"all {len(usable)} servers of {pool.kind} '{pool.name}' are backup; without "
            f"'option allbackups' the first one, {first.name}, receives 100% of the traffic",
            pool.location,
            context=pool_context(pool),
            fix="remove 'backup' from the servers that should share the load, or add "
            "'option allbackups'",
        )
