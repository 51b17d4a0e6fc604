"""LBG109: nginx ip_hash, which sees one client per /24 and one client per proxy."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect, Frontend, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context
from lbguard.rules.source_hash_behind_proxy import proxy_note_near


def _real_ip_configured(config: Config) -> bool:
    for section in config.sections:
        for d in section.directives:
            if d.name in ("set_real_ip_from", "real_ip_header"):
                return True
    return False


def _proxy_protocol(frontends: list[Frontend]) -> bool:
    return any(b.accept_proxy for fe in frontends for b in fe.binds)


class IpHashCollapse(Rule):
    """`ip_hash` spreads clients by their first three IPv4 octets only.

    ## What it does
    Reports every nginx upstream using `ip_hash`. The severity rises to warning when
    the config shows the server sits behind a proxy, CDN or load balancer (the
    `listen` has `proxy_protocol`, or a comment says so) and `set_real_ip_from` /
    `real_ip_header` are not configured.

    ## Why is this bad?
    nginx hashes only the first three octets of an IPv4 address, so every client in
    one /24 (an office, a mobile carrier's NAT) goes to the same server. Behind a
    proxy every request carries the proxy's address, and one server receives 100%
    of the traffic.

    ## Example
    ```nginx
    upstream app {
        ip_hash;
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
    }
    ```

    ## Use instead
    ```nginx
    upstream app {
        hash $cookie_session consistent;
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
    }
    ```
    or restore the client address first (`set_real_ip_from 10.0.0.0/8;`
    `real_ip_header X-Forwarded-For;`), and prefer `hash $remote_addr consistent`.
    """

    code = "LBG109"
    name = "ip-hash-collapse"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.NGINX})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if pool.balance.algorithm != "ip_hash" or len(ctx.serving_servers(pool)) < 2:
            return
        frontends = ctx.frontends_routing_to(pool)
        real_ip = ctx.memo("real-ip", lambda: _real_ip_configured(ctx.config))
        loc = pool.balance.location or pool.location
        behind = None
        if _proxy_protocol(frontends):
            behind = "a listen uses proxy_protocol"
        else:
            behind = proxy_note_near(pool, frontends, ctx)
        if behind and not real_ip:
            yield self.finding(
                f"upstream '{pool.name}' uses ip_hash behind a proxy ({behind}) without "
                "set_real_ip_from/real_ip_header: every request carries the proxy's address, "
                "so one server gets 100%",
                loc,
                context=pool_context(pool),
                fix="configure the realip module, or hash a better key with 'hash ... consistent'",
            )
            return
        yield self.finding(
            f"upstream '{pool.name}' uses ip_hash, which keys on the first three octets of "
            "IPv4 addresses: all clients in one /24 or behind one NAT go to the same server",
            loc,
            context=pool_context(pool),
            severity=Severity.INFO,
        )
