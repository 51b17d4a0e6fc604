"""LBG204: a proxy that takes traffic without the basic timeouts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect, Location, Setting
from lbguard.rules.base import Rule, RuleContext


def _missing(timeouts: Mapping[str, Setting], needed: tuple[str, ...]) -> list[str]:
    return [name for name in needed if name not in timeouts]


class MissingTimeouts(Rule):
    """A proxy that takes traffic lacks `timeout connect`, `timeout client` or `timeout server`.

    ## What it does
    Checks every frontend for `timeout client`, every backend for `timeout connect` and
    `timeout server`, and a `listen` section for all three, counting values inherited
    from `defaults`.

    ## Why is this bad?
    Without them HAProxy waits forever: a stalled server or a slow client holds a
    connection slot indefinitely, slots run out, and new users get errors. HAProxy
    itself warns about this at startup.

    ## Example
    ```haproxy
    defaults
        mode http
    frontend web
        bind :80
        default_backend app
    ```

    ## Use instead
    ```haproxy
    defaults
        mode http
        timeout connect 5s
        timeout client 30s
        timeout server 30s
    ```
    """

    code = "LBG204"
    name = "missing-timeouts"
    severity = Severity.WARNING
    target = "config"
    dialects = frozenset({Dialect.HAPROXY})

    def check_config(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        checked: set[str] = set()
        for fe in config.frontends:
            needed = ("connect", "client", "server") if fe.kind == "listen" else ("client",)
            missing = _missing(fe.timeouts, needed)
            checked.add(fe.name if fe.kind == "listen" else "")
            if missing:
                yield self._report(fe.kind, fe.name, missing, fe.location)
        for pool in config.pools:
            if pool.kind == "listen" or not ctx.receives_traffic(pool):
                continue
            missing = _missing(pool.timeouts, ("connect", "server"))
            if missing:
                yield self._report(pool.kind, pool.name, missing, pool.location)

    def _report(self, kind: str, name: str, missing: list[str], loc: Location) -> Finding:
        names = ", ".join(f"timeout {m}" for m in missing)
        return self.finding(
            f"{kind} '{name}' has no {names}: stalled connections are kept forever",
            loc,
            context=(f"{kind} {name}",),
            fix="set them in the defaults section, e.g. 'timeout connect 5s'",
        )
