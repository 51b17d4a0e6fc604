"""LBG106: hashing on the client address when every request arrives from a proxy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial

from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect, Frontend, Pool
from lbguard.parsers.haproxy import split_address
from lbguard.rules.base import Rule, RuleContext, pool_context

_PROXY_NOTE = re.compile(
    r"\b(cdn|cloudflare|akamai|fastly|cloudfront|behind (a |the |an )?[\w -]*"
    r"(proxy|balancer|lb|elb|alb|nlb|nat|ingress|cdn)|upstream proxy|reverse proxy|"
    r"front(ed)? by)\b",
    re.IGNORECASE,
)
_XFF = re.compile(
    r"x-forwarded-for|x-real-ip|cf-connecting-ip|true-client-ip|forwarded", re.IGNORECASE
)


def hashes_on_source(pool: Pool) -> bool:
    algo = pool.balance.algorithm
    if algo == "source":
        return True
    if algo == "hash" and pool.balance.key:
        return pool.balance.key.split(",", 1)[0] in ("src", "req.src")
    return False


def real_client_restored(frontends: list[Frontend]) -> bool:
    """True when `src` is the real client: PROXY protocol accepted, or set from a header."""
    for fe in frontends:
        if any(b.accept_proxy for b in fe.binds):
            return True
        for d in fe.directives:
            joined = " ".join(d.args)
            if d.name == "tcp-request" and "expect-proxy" in joined:
                return True
            if d.name == "http-request" and joined.startswith("set-src "):
                return True
    return False


_LOCAL = ("localhost", "::1")


def _bind_key(address: str) -> tuple[str, int] | None:
    """The `_targets` key a listener on `address` is found under, or None without a port."""
    host, port, _ = split_address(address)
    if port is None:
        return None
    wildcard = host in (None, "*", "0.0.0.0", "::")
    return ("*" if wildcard else host or "", port)


def _targets(config: Config) -> dict[tuple[str, int], list[Pool]]:
    """Pools by the (address, port) their servers point at; local addresses also as '*'.

    Only the keys some bind in the config can ask for (see `proxy_evidence`) are
    indexed: a big config has a hundred thousand servers and a handful of binds.
    """
    wanted = {
        key for fe in config.frontends for bind in fe.binds if (key := _bind_key(bind.address))
    }
    ports = {port for _, port in wanted}
    star = any(host == "*" for host, _ in wanted)
    index: dict[tuple[str, int], list[Pool]] = {}
    for pool in config.pools:
        for server in pool.servers:
            port = server.port
            if port is None or port not in ports:
                continue
            address = server.address or ""
            if (address, port) in wanted:
                index.setdefault((address, port), []).append(pool)
            if star and (address.startswith("127.") or address in _LOCAL):
                index.setdefault(("*", port), []).append(pool)
    return index


def _frontend_evidence(fe: Frontend) -> str | None:
    for d in fe.directives:
        if d.name in ("http-request", "acl", "use_backend", "tcp-request") and _XFF.search(
            " ".join(d.args)
        ):
            return f"{fe.kind} '{fe.name}' reads a forwarding header (line {d.location.line})"
    return None


def _comments_by_path(config: Config) -> dict[str, list[tuple[int, str]]]:
    index: dict[str, list[tuple[int, str]]] = {}
    for loc, text in config.comments:
        if _PROXY_NOTE.search(text):
            index.setdefault(loc.path, []).append((loc.line, text))
    return index


def proxy_evidence(pool: Pool, frontends: list[Frontend], ctx: RuleContext) -> str | None:
    """Why we believe traffic reaches this pool through another proxy, or None."""
    targets = ctx.memo("targets", lambda: _targets(ctx.config))
    # A chained listener: another pool in this config forwards to one of our binds.
    for fe in frontends:
        for bind in fe.binds:
            key = ctx.memo(("bind", bind.address), partial(_bind_key, bind.address))
            if key is None:
                continue
            for other in targets.get(key, ()):
                if other.name != pool.name:
                    return f"{other.kind} '{other.name}' forwards to it (port {key[1]})"
    for fe in frontends:
        # By identity: the config, and so its frontends, outlive the check.
        found = ctx.memo(("xff", id(fe)), partial(_frontend_evidence, fe))
        if found:
            return found
    return proxy_note_near(pool, frontends, ctx)


def _section_ends(config: Config) -> dict[tuple[str, int], int]:
    return {
        (s.location.path, s.location.line): max(s.end_line, s.location.line)
        for s in config.sections
    }


def proxy_note_near(pool: Pool, frontends: list[Frontend], ctx: RuleContext) -> str | None:
    """A comment that says "behind a CDN": inside the pool's or a frontend's section, or
    in the few lines just above its header (a note about the file's other parts, further
    away, is not evidence about this pool)."""
    notes = ctx.memo("proxy-notes", lambda: _comments_by_path(ctx.config))
    ends = ctx.memo("section-ends", lambda: _section_ends(ctx.config))
    spans = [(fe.location.path, fe.location.line) for fe in frontends]
    spans.append((pool.location.path, pool.location.line))
    for path, line in spans:
        end = ends.get((path, line), line)
        for note_line, text in notes.get(path, ()):
            if line - 3 <= note_line <= end:
                return f"a comment at line {note_line} says so: '{text[:60]}'"
    return None


class SourceHashBehindProxy(Rule):
    """`balance source` (or a hash on `src`) where clients arrive through a proxy.

    ## What it does
    Finds pools that pick a server by hashing the client's source address. It raises
    the severity when the config shows the pool sits behind another proxy, CDN or
    load balancer: a chained listener forwards to it, the frontend reads
    X-Forwarded-For, or a comment says so. With `accept-proxy` on the bind (or
    `http-request set-src`), `src` is the real client and the rule stays quiet.

    ## Why is this bad?
    Behind a proxy every request carries the proxy's address. The hash then has one
    input, and one server receives 100% of the traffic. Even without a proxy, a few
    large NATs (offices, mobile carriers) make the spread uneven.

    ## Example
    ```haproxy
    frontend edge            # behind Cloudflare
        bind :80
        default_backend app
    backend app
        balance source
        server web-01 10.0.0.1:80 check
        server web-02 10.0.0.2:80 check
    ```

    ## Use instead
    ```haproxy
    backend app
        balance roundrobin
        cookie SRV insert indirect nocache
        server web-01 10.0.0.1:80 check cookie w1
        server web-02 10.0.0.2:80 check cookie w2
    ```
    or hash on the real client: `balance hash req.hdr_ip(x-forwarded-for,-1)`, or accept
    the PROXY protocol (`bind :80 accept-proxy`).
    """

    code = "LBG106"
    name = "source-hash-behind-proxy"
    severity = Severity.WARNING
    target = "pool"
    dialects = frozenset({Dialect.HAPROXY})

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        if not hashes_on_source(pool) or len(ctx.serving_servers(pool)) < 2:
            return
        frontends = ctx.frontends_routing_to(pool)
        if pool.kind == "listen":
            frontends = [fe for fe in ctx.config.frontends if fe.name == pool.name] + frontends
        restored = ctx.memo(
            ("restored", *map(id, frontends)), lambda: real_client_restored(frontends)
        )
        if restored:
            return
        loc = pool.balance.location or pool.location
        evidence = proxy_evidence(pool, frontends, ctx)
        if evidence is None:
            yield self.finding(
                f"{pool.kind} '{pool.name}' hashes on the client address; if clients reach it "
                "through a proxy, CDN or NAT, one server will get all their traffic",
                loc,
                context=pool_context(pool),
                severity=Severity.INFO,
            )
            return
        yield self.finding(
            f"{pool.kind} '{pool.name}' hashes on the client address but sits behind a proxy "
            f"({evidence}): every request carries the proxy's address, so one server gets 100%",
            loc,
            context=pool_context(pool),
            fix="use roundrobin with cookie persistence, hash the real client "
            "(req.hdr_ip(x-forwarded-for,-1)), or accept the PROXY protocol",
        )
