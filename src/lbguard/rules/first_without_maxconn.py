"""LBG107: `balance first` with servers that have no maxconn."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class FirstWithoutMaxconn(Rule):
    """`balance first` on servers without `maxconn` sends everything to the first one.

    ## What it does
    Finds pools using `balance first` where a serving server has no `maxconn`.

    ## Why is this bad?
    `first` fills the first server up to its `maxconn` before using the next. Without
    a limit the first server is never full, so it takes 100% of the traffic and the
    others only ever see health checks.

    ## Example
    ```haproxy
    backend workers
        balance first
        server w1 10.0.0.1:80 check
        server w2 10.0.0.2:80 check
    ```

    ## Use instead
    ```haproxy
    backend workers
        balance first
        server w1 10.0.0.1:80 check maxconn 50
        server w2 10.0.0.2:80 check maxconn 50
    ```
    """

    code = "LBG107"
    name = "first-without-maxconn"
    severity = Severity.ERROR
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if pool.balance.algorithm != "first":
            return
        serving = ctx.serving_servers(pool)
        if len(serving) < 2:
            return
        unlimited = [s for s in serving if not s.maxconn]
        if not unlimited:
            return
        first = unlimited[0]
        yield self.finding(
            f"{pool.kind} '{pool.name}' uses 'balance first' but {first.name} has no maxconn: "
            f"it is never full, so it receives 100% of the traffic",
            pool.balance.location or pool.location,
            context=pool_context(pool),
            fix="set 'maxconn N' on every server (or on default-server)",
        )
