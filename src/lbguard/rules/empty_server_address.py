"""LBG105: a server whose address is empty or a placeholder that was never filled in."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool, Server
from lbguard.rules.base import Rule, RuleContext, server_context

# Left-overs of templating and hand-written placeholders.
_PLACEHOLDER = re.compile(
    r"(\{\{.*\}\}|\{%|<%|\$\{?[A-Za-z_]|<[A-Za-z_ -]+>|^_+$|_IP$|_HOST$|^(changeme|todo|"
    r"fixme|xxx+|example|placeholder|ip_address|hostname|your[_-].*|server[_-]?ip)$)",
    re.IGNORECASE,
)


_DOTTED = "0123456789."


def address_problem(server: Server) -> str | None:
    """Why this server's address cannot be a real backend, or None."""
    addr = server.address
    if addr is None or addr == "":
        return "has an empty address"
    if addr in ("0.0.0.0", "::", "*"):
        return f"has the wildcard address '{addr}'"
    # Every placeholder pattern needs a letter or one of "{<$_": an address of digits
    # and dots (nearly every server of a big config) cannot match, and this test is
    # several times cheaper than the search.
    if not addr.strip(_DOTTED):
        return None
    if _PLACEHOLDER.search(addr):
        return f"has a placeholder address '{addr}'"
    return None


class EmptyServerAddress(Rule):
    """A server's address is empty, a wildcard, or an unfilled placeholder.

    ## What it does
    Reports servers written as `server web-02 :80`, with `0.0.0.0`, or with an address
    that is clearly a template or placeholder (`{{ ip }}`, `$WEB2_IP`,
    `backend_IP`).

    ## Why is this bad?
    This is what a config-writing script produces when a shell variable is empty.
    HAProxy accepts `:80` and reads it as 0.0.0.0, which for a server means "the address
    the client connected to": the balancer's own address. The server never reaches a
    web server, its share of traffic fails or loops, and the remaining servers carry
    everything.

    ## Example
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 :80 check
    ```

    ## Use instead
    ```haproxy
    backend app
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
    ```
    In the script, fail early on unset variables: `set -u` and `${WEB2_IP:?}`.
    """

    code = "LBG105"
    name = "empty-server-address"
    severity = Severity.ERROR
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY, Dialect.NGINX})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        # A dotted number other than the wildcard (nearly every server of a big config)
        # is what `address_problem` passes: those are set aside without the call.
        for server in [
            s
            for s in pool.servers
            if not s.address or s.address == "0.0.0.0" or s.address.strip(_DOTTED)
        ]:
            if server.address_text.startswith(("unix@", "abns@", "fd@", "sockpair@", "/")):
                continue
            problem = address_problem(server)
            if problem is None:
                continue
            yield self.finding(
                f"server {server.name} {problem} ('{server.address_text}'); it cannot reach "
                "a backend, so its traffic fails or loops back to the balancer",
                server.address_location or server.location,
                context=server_context(pool, server.name),
                fix="fill in the real address; in generating scripts use ${VAR:?} so an "
                "unset variable stops the script",
            )
