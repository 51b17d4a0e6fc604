"""LBG205: nginx upstreams whose servers never leave rotation."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class PassiveChecksDisabled(Rule):
    """`max_fails=0` on every server turns off nginx's only health check.

    ## What it does
    Finds upstreams with two or more servers where every server has `max_fails=0`.

    ## Why is this bad?
    Open-source nginx has no active health checks; it takes a server out of rotation
    only after `max_fails` failed attempts. With `max_fails=0` a dead server keeps
    its full share of requests forever.

    ## Example
    ```nginx
    upstream app {
        server 10.0.0.1:8080 max_fails=0;
        server 10.0.0.2:8080 max_fails=0;
    }
    ```

    ## Use instead
    ```nginx
    upstream app {
        server 10.0.0.1:8080 max_fails=3 fail_timeout=10s;
        server 10.0.0.2:8080 max_fails=3 fail_timeout=10s;
    }
    ```
    """

    code = "LBG205"
    name = "passive-checks-disabled"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.NGINX})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        live = [s for s in pool.servers if not s.disabled]
        if len(live) < 2 or not all(s.max_fails == 0 for s in live):
            return
        yield self.finding(
            f"every server of upstream '{pool.name}' has max_fails=0: nginx never takes a "
            "failing server out of rotation",
            live[0].location,
            context=pool_context(pool),
            fix="drop max_fails=0 (the default is 1) or set max_fails=3 fail_timeout=10s",
        )
