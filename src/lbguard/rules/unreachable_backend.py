"""LBG302: a backend that no frontend can send traffic to."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context


class UnreachableBackend(Rule):
    """A backend or upstream is defined but nothing routes to it.

    ## What it does
    Reports HAProxy backends that no `use_backend` or `default_backend` names, and
    nginx upstreams that no `proxy_pass` (or other `*_pass`) names. It stays quiet
    when some route computes the name at runtime (`use_backend
    %[req.hdr(host),map(...)]`, `proxy_pass http://$pool`), since any pool could then
    be used.

    ## Why is this bad?
    Usually a typo or a rename left half done: the traffic you meant for this
    backend goes to the default one instead, and its servers sit idle while another
    pool takes double load.

    ## Example
    ```haproxy
    frontend web
        bind :80
        use_backend api if { path_beg /api }
        default_backend app
    backend apii
        server api-01 10.0.0.5:80 check
    ```

    ## Use instead
    Name the backend the frontend uses (`backend api`), or delete the dead one.
    """

    code = "LBG302"
    name = "unreachable-backend"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY, Dialect.NGINX})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if pool.kind not in ("backend", "upstream") or pool.implicit:
            return
        if ctx.receives_traffic(pool):
            return
        how = (
            "no proxy_pass or other *_pass directive names it"
            if pool.kind == "upstream"
            else "no use_backend or default_backend names it"
        )
        yield self.finding(
            f"{pool.kind} '{pool.name}' is not used by any server block or frontend ({how})",
            pool.location,
            context=pool_context(pool),
        )
