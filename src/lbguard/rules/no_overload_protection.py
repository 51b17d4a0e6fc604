"""LBG202: nothing limits how many connections a server receives."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class NoOverloadProtection(Rule):
    """Servers without `maxconn`, or a pool without `timeout queue`, have no overload guard.

    ## What it does
    Reports pools whose serving servers have no `maxconn`, and pools with `maxconn`
    but neither `timeout queue` nor `timeout connect` to bound the queue.

    ## Why is this bad?
    With a per-server `maxconn`, HAProxy queues excess requests and hands them to the
    first server with a free slot; without it, every request goes straight to the
    chosen server however busy it is. A slow server then collects connections until it
    falls over, which is how a load spike becomes an outage.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
    ```

    ## Use instead
    ```haproxy
    backend app
        timeout queue 5s
        default-server check maxconn 200
        server web-01 10.0.0.1:80
        server web-02 10.0.0.2:80
    ```
    """

    code = "LBG202"
    name = "no-overload-protection"
    severity = Severity.INFO
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        serving = ctx.serving_servers(pool)
        if not serving or not ctx.receives_traffic(pool):
            return
        unlimited = [s for s in serving if not s.maxconn]
        if unlimited:
            what = (
                "no server has"
                if len(unlimited) == len(serving)
                else (
                    f"{unlimited[0].name}"
                    + (f" and {len(unlimited) - 1} more" if len(unlimited) > 1 else "")
                    + (" has" if len(unlimited) == 1 else " have")
                )
            )
            yield self.finding(
                f"{pool.kind} '{pool.name}': {what} 'maxconn', so an overloaded server keeps "
                "receiving new connections instead of HAProxy queueing them",
                unlimited[0].location,
                context=pool_context(pool),
                fix="set 'maxconn' per server (default-server maxconn N) and 'timeout queue'",
            )
        elif "queue" not in pool.timeouts and "connect" not in pool.timeouts:
            yield self.finding(
                f"{pool.kind} '{pool.name}' limits servers with maxconn but has no "
                "'timeout queue' (nor 'timeout connect'), so queued requests wait forever",
                pool.location,
                context=pool_context(pool),
                fix="add 'timeout queue 5s'",
            )
