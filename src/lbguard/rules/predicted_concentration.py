"""LBG111: the simulator predicts one server takes far more than its weight promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from lbguard.findings import Finding, Severity
from lbguard.model import Pool
from lbguard.rules.base import Option, Rule, RuleContext, percent, pool_context

if TYPE_CHECKING:
    from lbguard.simulate.predict import Prediction

# Request-blind schedulers whose shares over a cycle equal the weight shares. Under
# load, leastconn and least_conn follow weights too.
_WEIGHT_FOLLOWING = frozenset({"roundrobin", "static-rr", "round_robin", "leastconn", "least_conn"})
# A predicted share this high counts as "all of the traffic".
_ALL = 0.999


def _nearly_unique_key(pool: Pool, ctx: RuleContext) -> bool:
    """A hash whose key is different for almost every modelled request spreads by weight.

    Such a pool can only be uneven through hot keys, and a key this varied has none in
    the default model; simulating it in check would cost time and say nothing.
    """
    if not pool.balance.is_hash:
        return False
    from lbguard.rules.low_cardinality_key import distinct_keys

    requests = int(ctx.options["requests"])
    what = ("keys", pool.balance.algorithm, pool.balance.key, pool.balance.args, requests)
    counted = ctx.memo(what, lambda: distinct_keys(pool, ctx.config.dialect, requests))
    return counted is not None and counted[0] >= requests // 2


def _no_server_takes_all(pool: Pool, ctx: RuleContext) -> bool:
    """Whether no server's weight share reaches `_ALL`, without building the shares.

    The same verdict as ``max(pool.weight_shares().values()) < _ALL``, which is the
    weight share w/Σw of the heaviest serving server when names are unique (a name
    used twice adds its servers' shares, so that case asks weight_shares itself).
    """
    serving = ctx.serving_servers(pool)
    if len(serving) < 2:
        return not serving
    weights = [s.weight for s in serving]
    if len({s.name for s in serving}) < len(serving):
        return False
    return max(weights) / sum(weights) < _ALL


class PredictedConcentration(Rule):
    """The traffic model predicts one server gets much more than its weight share.

    ## What it does
    Runs the pool's balancing algorithm, modelled exactly, over lbguard's default
    synthetic traffic (5,000 clients over 256 /24 networks, Zipf-distributed URIs;
    see `lbguard simulate --help`) and compares each server's predicted share with
    its weight share w/Σw. It reports a server whose predicted share exceeds
    `factor` times its weight share, and always a pool of two or more servers where
    one server is predicted to take 100%.

    ## Why is this bad?
    Weights say how load should spread; the algorithm decides how it really does.
    A hash on a key that barely varies, a `first` without limits, or backups that
    never share the load all send most requests to one server, which saturates
    while the others idle.

    ## Example
    ```haproxy
    backend app
        balance hdr(X-Tenant)
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
        server web-03 10.0.0.3:80 check
    ```
    When almost every request carries the same tenant, one server takes them all.

    ## Use instead
    ```haproxy
    backend app
        balance roundrobin
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
        server web-03 10.0.0.3:80 check
    ```
    Run `lbguard simulate CONFIG --pool app` to see every server's predicted share.

    ## Options
    - `factor` (float, default 2.0): how many times its weight share a server may get.
    - `requests` (int, default 2000): size of the modelled trace used by `check`.
    - `max-simulations` (int, default 50): distinct pool shapes `check` simulates; past
      that, one info finding says how to see the rest.
    """

    code = "LBG111"
    name = "predicted-concentration"
    severity = Severity.WARNING
    target = "pool"
    options = (
        Option("factor", float, 2.0, "how many times its weight share a server may receive"),
        Option("requests", int, 2000, "requests in the modelled trace that check uses"),
        Option("max-simulations", int, 200, "distinct pool shapes check simulates, at most"),
    )

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if len(pool.servers) < 2 or pool.implicit:
            return
        if pool.balance.algorithm in _WEIGHT_FOLLOWING or _nearly_unique_key(pool, ctx):
            # These spread requests exactly by weight over each cycle, so the model's
            # answer is the weight share: no need to run it (or to import numpy, which
            # lbguard.simulate.predict does).
            if _no_server_takes_all(pool, ctx):
                return
            expected = pool.weight_shares()
            # Predicted equals expected here, so `judge` can only object to a server
            # with (nearly) all the traffic: without one, there is nothing to judge.
            if not expected or max(expected.values()) < _ALL:
                return
            from lbguard.simulate.predict import Prediction

            prediction = Prediction(pool, ctx.config.dialect, dict(expected), expected)
        else:
            from lbguard.simulate.predict import predict, shape
            from lbguard.simulate.traffic import TrafficModel

            # Pools of one shape share a simulation; distinct shapes are capped so that
            # a config with thousands of hashing pools still checks in seconds.
            done: set[object] = ctx.memo("simulated-shapes", set)
            key = shape(pool, ctx.config.dialect)
            if key not in done and len(done) >= int(ctx.options["max-simulations"]):
                skipped: list[Pool] = ctx.memo("skipped-pools", list)
                skipped.append(pool)
                if len(skipped) == 1:
                    yield self.finding(
                        f"{pool.kind} '{pool.name}' and any later pools of a new shape were "
                        f"not simulated: check simulates at most "
                        f"{ctx.options['max-simulations']} distinct pools; run "
                        "'lbguard simulate' for all of them",
                        pool.balance.location or pool.location,
                        context=pool_context(pool),
                        severity=Severity.INFO,
                    )
                return
            done.add(key)
            model = TrafficModel(requests=int(ctx.options["requests"]))
            prediction = predict(pool, ctx.config.dialect, model, pool_shape=key)
        yield from self.judge(prediction, float(ctx.options["factor"]))

    def judge(self, prediction: Prediction, factor: float = 2.0) -> Iterator[Finding]:
        """Findings for one prediction; `lbguard simulate` calls this with its own traffic."""
        pool = prediction.pool
        for server in pool.servers:
            got = prediction.predicted.get(server.name, 0.0)
            want = prediction.expected.get(server.name, 0.0)
            if got >= _ALL or (want > 0 and got > factor * want and got - want > 0.05):
                why = (
                    f"although the pool has {len(pool.servers)} servers"
                    if got >= _ALL
                    else f"its weight share is {percent(want)}"
                )
                yield self.finding(
                    f"{pool.kind} '{pool.name}' under the modelled traffic: {server.name} is "
                    f"predicted to get {percent(got)} of requests, {why}",
                    pool.balance.location or pool.location,
                    context=pool_context(pool),
                    fix=f"run 'lbguard simulate --pool {pool.name}' to see the whole pool",
                )
                return
