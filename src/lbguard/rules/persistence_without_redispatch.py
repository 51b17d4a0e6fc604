"""LBG203: sticky sessions without `option redispatch`."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class PersistenceWithoutRedispatch(Rule):
    """Cookie or stick-table persistence without `option redispatch` pins clients to dead servers.

    ## What it does
    Finds pools with `cookie` or `stick on`/`stick match` persistence and more than one
    server, where `option redispatch` is not set (directly or through `defaults`).

    ## Why is this bad?
    A persistent client keeps being sent to "its" server. When that server dies,
    HAProxy keeps trying it and the client gets errors until the cookie or the table
    entry expires, even though other servers are healthy.

    ## Example
    ```haproxy
    backend app
        cookie SRV insert indirect nocache
        server web-01 10.0.0.1:80 check cookie w1
        server web-02 10.0.0.2:80 check cookie w2
    ```

    ## Use instead
    ```haproxy
    backend app
        option redispatch
        cookie SRV insert indirect nocache
        server web-01 10.0.0.1:80 check cookie w1
        server web-02 10.0.0.2:80 check cookie w2
    ```
    """

    code = "LBG203"
    name = "persistence-without-redispatch"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if not pool.persistence or len(pool.servers) < 2 or pool.has_flag("redispatch"):
            return
        first = pool.persistence[0]
        yield self.finding(
            f"{pool.kind} '{pool.name}' uses {first.kind} persistence without "
            "'option redispatch': clients stay pinned to a server after it dies",
            first.location,
            context=pool_context(pool),
            fix="add 'option redispatch' (in the backend or in defaults)",
        )
