"""LBG108: every primary server of a pool is marked down or disabled."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class AllServersDown(Rule):
    """Every non-backup server of the pool is marked `down` (nginx) or `disabled` (HAProxy).

    ## What it does
    Finds pools where no primary server can take traffic because all of them are
    administratively down.

    ## Why is this bad?
    nginx accepts such an upstream and answers every request with 502, unless a
    backup exists, which then takes 100% of the traffic. HAProxy does the same with
    `disabled`: the pool is empty, or its backups carry everything. This is usually
    maintenance that was never undone.

    ## Example
    ```nginx
    upstream app {
        server 10.0.0.1:8080 down;
        server 10.0.0.2:8080 down;
    }
    ```

    ## Use instead
    ```nginx
    upstream app {
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
    }
    ```
    """

    code = "LBG108"
    name = "all-servers-down"
    severity = Severity.ERROR
    target = "pool"

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        primaries = [s for s in pool.servers if not s.backup]
        if not primaries or not all(s.disabled for s in primaries):
            return
        backups = pool.backup_servers()
        where = (
            f"its backup {backups[0].name} takes 100% of the traffic"
            if len(backups) == 1
            else "its backups take all the traffic"
            if backups
            else "every request fails (502/503)"
        )
        word = "down" if pool.kind == "upstream" else "disabled"
        yield self.finding(
            f"all {len(primaries)} primary servers of {pool.kind} '{pool.name}' are {word}: "
            f"{where}",
            pool.location,
            context=pool_context(pool),
            fix=f"remove '{word}' from the servers that are back in service",
        )
