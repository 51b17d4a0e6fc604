"""LBG112: a hashing pool whose key takes very few values in modelled traffic."""

from __future__ import annotations

from collections.abc import Iterator

from lbguard.findings import Finding, Severity
from lbguard.model import Dialect, Pool
from lbguard.rules.base import Option, Rule, RuleContext, pool_context


def distinct_keys(pool: Pool, dialect: Dialect, requests: int) -> tuple[int, int] | None:
    """(distinct non-empty keys, requests without a key) over the default model."""
    # Decided before the imports: the simulator brings numpy, which a config without
    # hashing pools (most of them) should not pay for at start-up.
    if dialect is Dialect.HAPROXY:
        if not pool.balance.is_hash or pool.balance.algorithm == "rdp-cookie":
            return None
    elif pool.balance.algorithm != "hash" or not pool.balance.key:
        return None
    from lbguard.simulate.haproxy_model import key_extractor
    from lbguard.simulate.nginx_model import evaluate_key
    from lbguard.simulate.predict import _trace
    from lbguard.simulate.traffic import TrafficModel

    trace = _trace(TrafficModel(requests=requests))
    keys: set[object] = set()
    missing = 0
    if dialect is Dialect.HAPROXY:
        extract = key_extractor(pool)
        for req in trace:
            k = extract(req)
            if k is None:
                missing += 1
            else:
                keys.add(k)
    else:
        key = pool.balance.key
        assert key is not None  # checked above
        for req in trace:
            k2 = evaluate_key(key, req)
            if k2:
                keys.add(k2)
            else:
                missing += 1
    return len(keys), missing


class LowCardinalityKey(Rule):
    """The balancing key takes very few distinct values in realistic traffic.

    ## What it does
    Evaluates the pool's hash key (HAProxy `source`, `uri`, `url_param`, `hdr()`,
    `hash`; nginx `hash KEY`) over lbguard's default synthetic traffic and counts
    its distinct values. It reports keys with fewer than `min-keys` values, and keys
    that most requests do not carry (they fall back to round robin).

    ## Why is this bad?
    A hash can only spread traffic over as many servers as its key has values. A
    key with two values on a ten-server pool uses at most two servers.

    ## Example
    ```nginx
    upstream app {
        hash $scheme;
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
        server 10.0.0.3:8080;
    }
    ```

    ## Use instead
    ```nginx
    upstream app {
        hash $request_uri consistent;
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
        server 10.0.0.3:8080;
    }
    ```

    ## Options
    - `min-keys` (int, default 10): fewer distinct keys than this is reported.
    """

    code = "LBG112"
    name = "low-cardinality-key"
    severity = Severity.WARNING
    target = "pool"
    options = (Option("min-keys", int, 10, "fewer distinct key values than this is reported"),)

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if len(ctx.serving_servers(pool)) < 2:
            return
        # The count depends on the key alone, not on the servers behind it.
        what = (pool.balance.algorithm, pool.balance.key, pool.balance.args)
        counted = ctx.memo(("keys", *what), lambda: distinct_keys(pool, ctx.config.dialect, 2000))
        if counted is None:
            return
        keys, missing = counted
        limit = int(ctx.options["min-keys"])
        if 0 < keys < limit:
            yield self.finding(
                f"{pool.kind} '{pool.name}' hashes on a key with only {keys} distinct "
                f"value(s) in modelled traffic: at most {keys} of "
                f"{len(ctx.serving_servers(pool))} servers get requests",
                pool.balance.location or pool.location,
                context=pool_context(pool),
            )
        elif keys == 0 and missing:
            yield self.finding(
                f"{pool.kind} '{pool.name}' hashes on a key that modelled requests do not "
                "carry, so they fall back to round robin and lose their affinity",
                pool.balance.location or pool.location,
                context=pool_context(pool),
                severity=Severity.INFO,
            )
