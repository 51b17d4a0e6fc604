"""LBG207: health checks see only dead servers, never overloaded ones."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class NoOverloadSignal(Rule):
    """A pool's health checks say "up" until a slow server falls over.

    ## What it does
    Finds HAProxy backends whose servers are health-checked (`check`) but none has
    `agent-check`, and nginx upstreams of two or more servers, which have only
    passive checks. Info only: it suggests a signal, it does not report a mistake.

    ## Why is this bad?
    A server under too much load rarely fails cleanly: it slows down, queues, and
    then crashes. A TCP connect or a `GET /` keeps answering until the end, so the
    balancer keeps sending the server its full share. An agent that reports the
    server's own load (requests in flight, latency against its baseline, errors,
    accept queue, CPU and memory pressure) lets HAProxy lower its weight before it
    fails; for nginx open source, which has no active checks, `lbguard probe` and
    `lbguard watch` check from outside.

    ## Example
    ```haproxy
    backend app
        option httpchk GET /healthz
        server web-01 10.0.0.1:8080 check
        server web-02 10.0.0.2:8080 check
    ```

    ## Use instead
    ```haproxy
    backend app
        option httpchk GET /healthz
        server web-01 10.0.0.1:8080 check agent-check agent-port 5555 agent-inter 2s
        server web-02 10.0.0.2:8080 check agent-check agent-port 5555 agent-inter 2s
    ```
    and run `lbguard agent --port 5555` on each server (`lbguard agent
    --print-haproxy-snippet haproxy.cfg --backend app` prints these lines).
    """

    code = "LBG207"
    name = "no-overload-signal"
    severity = Severity.INFO
    target = "pool"

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        serving = ctx.serving_servers(pool)
        if len(serving) < 2 or pool.implicit or not ctx.receives_traffic(pool):
            return
        if ctx.config.dialect is Dialect.HAPROXY:
            checked = [s for s in serving if s.check]
            if not checked or any(s.agent_check for s in pool.servers):
                return
            yield self.finding(
                f"{pool.kind} '{pool.name}' checks whether its servers are up, but nothing "
                "tells HAProxy that one is overloaded before it fails",
                checked[0].location,
                context=pool_context(pool),
                fix="add 'agent-check agent-port 5555 agent-inter 2s' and run 'lbguard agent' "
                f"on each server ('lbguard agent --print-haproxy-snippet CONFIG --backend "
                f"{pool.name}' prints the lines)",
            )
        elif pool.health.kind == "passive":
            yield self.finding(
                f"upstream '{pool.name}' has only passive checks: nginx notices an "
                "overloaded server only once its requests fail",
                pool.location,
                context=pool_context(pool),
                fix="probe the servers from outside: 'lbguard probe' (or 'lbguard watch'), "
                "with 'lbguard agent' on each server for its load",
            )
