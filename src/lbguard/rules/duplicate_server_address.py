"""LBG104: two servers in one pool point at the same address and port."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Pool
from lbguard.rules.base import Rule, RuleContext, server_context


class DuplicateServerAddress(Rule):
    """Two server lines in one pool have the same address and port.

    ## What it does
    Compares the `address:port` of every server in a pool and reports the second and
    later servers that repeat one.

    ## Why is this bad?
    The pool looks bigger than it is: the real machine behind the repeated address
    gets two shares of the traffic, and when it fails two "servers" fail together.
    Copy-paste and config-writing scripts that reuse a variable produce this.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.1:80 check
    ```

    ## Use instead
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
    ```
    """

    code = "LBG104"
    name = "duplicate-server-address"
    severity = Severity.WARNING
    target = "pool"

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        # Keyed by (address, port) rather than their "address:port" text: the same
        # equality (a port never contains ':'), without formatting a string per server.
        keys = [
            (s.address.lower(), s.port)
            for s in pool.servers
            if s.address and s.template_count is None
        ]
        if len(set(keys)) == len(keys):
            return  # nearly every pool: no two alike, and no need to say which
        seen: dict[tuple[str, int | None], str] = {}
        for server in pool.servers:
            if not server.address or server.template_count is not None:
                continue
            key = (server.address.lower(), server.port)
            first = seen.get(key)
            if first is None:
                seen[key] = server.name
                continue
            yield self.finding(
                f"server {server.name} has the same address {server.endpoint} as {first}; "
                "that machine gets a double share and both fail together",
                server.address_location or server.location,
                context=server_context(pool, server.name),
            )
