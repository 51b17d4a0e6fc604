"""LBG110: nginx `hash` on a key that takes few distinct values."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Frontend, Pool
from lbguard.rules.base import Rule, RuleContext, pool_context

_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _server_names(frontends: list[Frontend]) -> set[str]:
    names: set[str] = set()
    for fe in frontends:
        for d in fe.directives:
            if d.name == "server_name":
                names.update(a for a in d.args if a not in ("_", '""', ""))
    return names


def key_cardinality(key: str, frontends: list[Frontend]) -> tuple[str, Severity] | None:
    """A sentence on how many distinct values the key takes, when that is few."""
    variables = _VAR.findall(key)
    if not variables:
        return (
            f"the key '{key}' is a constant: every request hashes to the same server",
            Severity.ERROR,
        )
    if len(variables) > 1:
        return None
    var = variables[0]
    if var in ("remote_addr", "binary_remote_addr"):
        return (
            "the key is the client address: one value per client IP, and a single value "
            "for all traffic that arrives through a proxy, CDN or NAT",
            Severity.WARNING,
        )
    if var in ("host", "http_host", "server_name"):
        names = _server_names(frontends)
        if len(names) <= 1:
            shown = next(iter(names), "one name")
            return (
                f"the key is the Host, and the server that uses this upstream answers only "
                f"{shown}: one value, so one server gets 100%",
                Severity.WARNING,
            )
        return None
    if var == "http_x_forwarded_for":
        return (
            "the key is X-Forwarded-For with no fallback: every request without that header "
            "hashes the empty string to one server",
            Severity.WARNING,
        )
    if var in ("scheme", "request_method", "server_port", "server_addr", "https"):
        return (f"the key ${var} takes only a handful of values", Severity.WARNING)
    return None


class LowCardinalityHashKey(Rule):
    """`hash KEY` on a key that takes few distinct values concentrates traffic.

    ## What it does
    Looks at the key of nginx `hash` upstreams and reports keys that are constant,
    the client address without `consistent`, the Host on a single-name server, or
    `$http_x_forwarded_for` with no fallback. The message says how many distinct
    values the key is likely to take.

    ## Why is this bad?
    A hash spreads traffic only as well as its key varies. A key with one value
    sends every request to one server; with a handful of values a few servers carry
    everything. Without `consistent`, adding or removing a server also remaps almost
    every key, which empties caches and breaks session affinity.

    ## Example
    ```nginx
    upstream app {
        hash $remote_addr;
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
    }
    ```

    ## Use instead
    ```nginx
    upstream app {
        hash $request_uri consistent;
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
    }
    ```
    """

    code = "LBG110"
    name = "low-cardinality-hash-key"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.NGINX})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if pool.balance.algorithm != "hash" or not pool.balance.key:
            return
        if len(ctx.serving_servers(pool)) < 2:
            return
        verdict = key_cardinality(pool.balance.key, ctx.frontends_routing_to(pool))
        if verdict is None:
            return
        sentence, severity = verdict
        consistent = pool.balance.hash_type == "consistent"
        if severity is Severity.WARNING and consistent and "client address" in sentence:
            return
        yield self.finding(
            f"upstream '{pool.name}' hashes on '{pool.balance.key}'"
            f"{'' if consistent else ' without consistent'}: {sentence}",
            pool.balance.location or pool.location,
            context=pool_context(pool),
            severity=severity,
            fix="hash a key that varies per client or request (a session cookie, "
            "$request_uri) and add 'consistent'",
        )
