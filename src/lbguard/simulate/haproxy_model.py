"""HAProxy 2.6 server selection: FWRR, static-rr and the server map, map-based and
consistent hashing with their key extraction, random, leastconn and first.

Each algorithm is a small state machine with one `pick(request)` per request, as
the binary does it. leastconn, first and random depend on runtime state; the model
assumes requests that do not overlap (each finishes before the next arrives), which
is also how the recorded test vectors were produced, and says so in its output.
"""

from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from lbguard.model import Pool, Server
from lbguard.simulate.hashes import HAPROXY_FUNCTIONS, MASK, full_hash
from lbguard.simulate.traffic import Request, ip_words

SRV_EWGHT_MAX = 4096
BE_WEIGHT_SCALE = 16

NON_OVERLAPPING = (
    "requests do not overlap: each finishes before the next arrives, so every server has "
    "no connection in flight when the next pick is made"
)


@dataclass
class HashSpec:
    method: str = "map-based"
    function: str = "sdbm"
    avalanche: bool = False


def hash_spec(pool: Pool) -> HashSpec:
    """hash-type as HAProxy resolves it: `consistent` alone means sdbm + avalanche."""
    spec = HashSpec()
    for d in pool.directives:
        if d.name == "hash-type" and d.args:
            spec = HashSpec(d.args[0], "sdbm", False)
            if len(d.args) > 1:
                spec.function = d.args[1]
                spec.avalanche = len(d.args) > 2 and d.args[2] == "avalanche"
            elif d.args[0] == "consistent":
                spec.avalanche = True
    return spec


def server_ids(servers: tuple[Server, ...]) -> list[int]:
    """puid: explicit `id N` kept; others get the smallest unused id >= a counter that
    advances for every server (including those with an explicit id)."""
    explicit = {
        i: int(s.option("id") or 0)
        for i, s in enumerate(servers)
        if (s.option("id") or "").isdigit()
    }
    used = set(explicit.values())
    ids: list[int] = []
    next_id = 1
    for i in range(len(servers)):
        if i in explicit:
            ids.append(explicit[i])
        else:
            n = next_id
            while n in used:
                n += 1
            used.add(n)
            ids.append(n)
        next_id += 1
    return ids


def _usable(s: Server) -> bool:
    return not s.disabled and s.weight > 0


class _Backend:
    """Usable servers, groups and totals (recount_servers)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.servers = pool.servers
        self.allbackups = pool.has_flag("allbackups")
        self.active = [i for i, s in enumerate(self.servers) if _usable(s) and not s.backup]
        self.backup = [i for i, s in enumerate(self.servers) if _usable(s) and s.backup]
        self.fbck = self.backup[0] if self.backup and not self.allbackups else None

    def group(self) -> tuple[list[int], bool]:
        """(servers that receive traffic, whether it is the fbck-only case)."""
        if self.active:
            return self.active, False
        if self.fbck is not None:
            return [self.fbck], True
        return self.backup, False


# ------------------------------------------------------------------------- FWRR


class _FwrrGroup:
    def __init__(self, members: list[int], eweight: dict[int, int]) -> None:
        self.e = eweight
        total = sum(eweight[i] for i in members)
        self.curr_pos = self.curr_weight = self.next_weight = total
        self.seq = 0
        self.init: list[tuple[int, int, int]] = []
        self.curr: list[tuple[int, int, int]] = []
        self.next: list[tuple[int, int, int]] = []
        self.npos = dict.fromkeys(members, 0)
        self.rweight = dict.fromkeys(members, 0)
        for i in members:
            self._push(self.init, SRV_EWGHT_MAX - eweight[i], i)

    def _push(self, tree: list[tuple[int, int, int]], key: int, srv: int) -> None:
        # Among equal keys the earliest inserted comes first: a sequence number does it.
        self.seq += 1
        heapq.heappush(tree, (key, self.seq, srv))

    def _candidate(self) -> int | None:
        s1 = self.curr[0][2] if self.curr else None
        if s1 is not None and self.e[s1] and self.npos[s1] <= self.curr_pos:
            heapq.heappop(self.curr)
            return s1
        if self.init and self.e[self.init[0][2]]:
            s2 = heapq.heappop(self.init)[2]
            self.npos[s2] = 0
            self.rweight[s2] = 0
            return s2
        if s1 is not None:
            heapq.heappop(self.curr)
            return s1
        return None

    def pick(self) -> int | None:
        if self.curr_weight == 0:
            self.curr_pos = self.curr_weight = self.next_weight
        s = self._candidate()
        if s is None:
            self.init, self.next = self.next, self.init
            self.curr_weight = self.next_weight
            self.curr_pos = self.curr_weight
            s = self._candidate()
            if s is None:
                return None
        e = self.e[s]
        if self.npos[s] == 0:
            self.npos[s] = self.curr_pos
        self.npos[s] += self.next_weight // e
        self.rweight[s] += self.next_weight % e
        if self.rweight[s] >= e:
            self.rweight[s] -= e
            self.npos[s] += 1
        self.curr_pos += 1
        if self.npos[s] >= 2 * self.curr_weight or (
            self.npos[s] >= self.curr_weight + self.next_weight
        ):
            self.npos[s] -= self.curr_weight
            self._push(self.next, SRV_EWGHT_MAX - e, s)
        else:
            key = 256 * self.npos[s] + (SRV_EWGHT_MAX + self.rweight[s] - e) // 16
            self._push(self.curr, key, s)
        return s


# ---------------------------------------------------------------- map and chash


def _map_eweights(servers: tuple[Server, ...]) -> dict[int, int]:
    g = 0
    for s in servers:
        if s.weight > 0:
            g = s.weight if g == 0 else math.gcd(g, s.weight)
    g = g or 1
    return {i: s.weight // g for i, s in enumerate(servers)}


def build_map(be: _Backend) -> list[int]:
    """recalc_server_map, including the fbck quirk (T from the first backup only)."""
    e = _map_eweights(be.servers)
    if be.active:
        members = be.active
        total = sum(e[i] for i in members)
    elif be.fbck is not None:
        members = be.backup
        total = e[be.fbck]
    else:
        members = be.backup
        total = sum(e[i] for i in members)
    if total <= 0 or not members:
        return []
    wscore = dict.fromkeys(members, 0)
    out: list[int] = []
    for _ in range(total):
        if total == 1:
            out.append(members[0])
            continue
        best = -1
        best_v = -1
        for i in members:
            wscore[i] += e[i]
            v = (wscore[i] + total) // total
            if v > best_v:
                best, best_v = i, v
        out.append(best)
        wscore[best] -= total
    return out


class _Ring:
    """The consistent-hash tree of one group: nodes full_hash(puid*4096 + j)."""

    def __init__(self, members: list[int], servers: tuple[Server, ...], ids: list[int]) -> None:
        nodes: list[tuple[int, int, int]] = []
        order = 0
        for i in members:
            for j in range(BE_WEIGHT_SCALE * servers[i].weight):
                nodes.append((full_hash(ids[i] * 4096 + j), order, i))
                order += 1
        nodes.sort()
        self.keys = [k for k, _, _ in nodes]
        self.servers = [s for _, _, s in nodes]
        self.last = -1

    def lookup(self, h: int) -> int | None:
        index = self.lookup_index(h)
        return None if index is None else self.servers[index]

    def lookup_index(self, h: int) -> int | None:
        """The node chosen for hash h: the nearer of its two neighbours, ties to prev."""
        if not self.keys:
            return None
        n = len(self.keys)
        nxt = bisect_left(self.keys, h)
        if nxt == n:
            nxt = 0
        prev = (nxt - 1) % n
        dp = (h - self.keys[prev]) & MASK
        dn = (self.keys[nxt] - h) & MASK
        return prev if dp <= dn else nxt

    def next_server(self) -> int | None:
        if not self.keys:
            return None
        self.last = (self.last + 1) % len(self.keys)
        return self.servers[self.last]


# ------------------------------------------------------------------ key extraction


@lru_cache(maxsize=64)
def _uri_options(args: tuple[str, ...]) -> tuple[bool, bool, int | None, int | None]:
    """`balance uri` options: (whole, path-only, len N, depth N), read once per pool shape."""
    length = depth = None
    for i, a in enumerate(args):
        if a == "len" and i + 1 < len(args):
            length = int(args[i + 1])
        elif a == "depth" and i + 1 < len(args):
            depth = int(args[i + 1])
    return "whole" in args, "path-only" in args, length, depth


def _uri_key(uri: str, args: tuple[str, ...]) -> bytes:
    """What `balance uri` hashes (backend.c get_server_uh).

    The URI's first `len` bytes, cut at its first '?' unless `whole`, then before the
    slash that would start level `depth` + 1: the same prefix as HAProxy's scan.
    """
    whole, path_only, length, depth = _uri_options(args)
    if path_only:
        if uri.startswith("/"):
            pass
        elif "://" in uri:
            rest = uri.split("://", 1)[1]
            slash = rest.find("/")
            uri = rest[slash:] if slash >= 0 else ""
        else:
            uri = ""
    data = uri.encode()
    if length is not None:
        data = data[:length]
    if not whole:
        data = data.partition(b"?")[0]
    if depth is not None:
        at = -1
        for _ in range(depth + 1):
            at = data.find(b"/", at + 1)
            if at < 0:
                break
        if at >= 0:
            data = data[:at]
    return data


def _url_param(uri: str, name: str) -> bytes | None:
    q = uri.find("?")
    if q < 0:
        return None
    for part in uri[q + 1 :].split("&"):
        if part.startswith(name) and part[len(name) : len(name) + 1] == "=":
            return part[len(name) + 1 :].encode()
    return None


def _first_element(value: str) -> str:
    out = []
    quoted = False
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and quoted and i + 1 < len(value):
            out.append(value[i : i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            break
        out.append(c)
        i += 1
    return "".join(out).strip(" \t")


def _domain_only(value: str) -> str:
    end = value.rfind(".")
    if end < 0:
        return value
    start = value.rfind(".", 0, end)
    return value[start + 1 : end]


def key_extractor(pool: Pool) -> Callable[[Request], bytes | int | None]:
    """Per-request key: bytes to hash, an int for `source`, or None (no key: round robin)."""
    algo = pool.balance.algorithm
    args = pool.balance.args
    if algo == "source":

        def source(req: Request) -> int | None:
            words = ip_words(req.client)
            if not words:
                return None
            h = 0
            for w in words:
                h ^= w
            return h

        return source
    if algo == "uri":
        return lambda req: _uri_key(req.uri, args)
    if algo == "url_param":
        name = args[0] if args else ""
        return lambda req: _url_param(req.uri, name)
    if algo in ("hdr", "hash"):
        header = None
        domain = algo == "hdr" and "use_domain_only" in args
        key = pool.balance.key or ""
        m = re.fullmatch(r"(?:req\.)?hdr\(([^),]+)\)", key)
        if m:
            header = m.group(1)

        def hdr(req: Request) -> bytes | None:
            if header is None:
                return _expr_key(key, req)
            value = req.header(header)
            if value is None:
                return None
            first = _first_element(value)
            if not first:
                return None
            return (_domain_only(first) if domain else first).encode()

        return hdr
    return lambda req: None


def _expr_key(expr: str, req: Request) -> bytes | None:
    """The few sample expressions worth modelling in `balance hash`."""
    base = expr.split(",", 1)[0]
    if base in ("src", "req.src"):
        return req.client.encode()
    if base in ("path",):
        return req.uri.split("?", 1)[0].encode()
    if base in ("url", "uri"):
        return req.uri.encode()
    m = re.fullmatch(r"url_param\(([^)]+)\)", base)
    if m:
        return _url_param(req.uri, m.group(1))
    m = re.fullmatch(r"(?:req\.)?(?:cook|cookie)\(([^)]+)\)", base)
    if m:
        cookie = req.header("Cookie") or ""
        for part in cookie.split(";"):
            k, _, v = part.strip().partition("=")
            if k == m.group(1):
                return v.encode()
        return None
    return None


# ------------------------------------------------------------------ scheduler


@dataclass
class HaproxyScheduler:
    """One backend's balancing state. `pick` returns an index into pool.servers or -1."""

    pool: Pool
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.be = _Backend(self.pool)
        self.ids = server_ids(self.pool.servers)
        self.spec = hash_spec(self.pool)
        algo = self.pool.balance.algorithm
        self.algo = algo
        members, _ = self.be.group()
        eweight = {i: BE_WEIGHT_SCALE * s.weight for i, s in enumerate(self.pool.servers)}
        if self.be.active:
            self.fwrr: _FwrrGroup | None = _FwrrGroup(self.be.active, eweight)
        elif self.be.fbck is not None:
            self.fwrr = None
        else:
            self.fwrr = _FwrrGroup(self.be.backup, eweight)
        self.map = build_map(self.be)
        self.rr_idx = 0
        ring_members = self.be.active or ([] if self.be.fbck is not None else self.be.backup)
        self.ring = _Ring(ring_members, self.pool.servers, self.ids)
        self.key = key_extractor(self.pool)
        self.hashfn = HAPROXY_FUNCTIONS.get(self.spec.function, HAPROXY_FUNCTIONS["sdbm"])
        self.rng_state = 2463534242
        self.lc_order = list(members)
        self.members = members
        if algo in ("leastconn", "first", "random"):
            self.notes.append(f"{algo}: {NON_OVERLAPPING}")
        if algo == "random":
            draws = 2
            for d in self.pool.directives:
                if d.name == "balance" and d.args and d.args[0].startswith("random("):
                    draws = int(d.args[0][7:-1] or 2)
            self.draws = draws
            self.notes.append(
                "random: HAProxy's per-thread xorshift32 from its fixed seed, as with nbthread 1"
            )

    # -- helpers
    def _map_rr(self) -> int:
        if not self.map:
            return -1
        if not 0 <= self.rr_idx < len(self.map):
            self.rr_idx = 0
        s = self.map[self.rr_idx]
        self.rr_idx = (self.rr_idx + 1) % len(self.map)
        return s

    def _xorshift(self) -> int:
        x = self.rng_state
        x ^= (x << 13) & MASK
        x ^= x >> 17
        x ^= (x << 5) & MASK
        self.rng_state = x & MASK
        return self.rng_state

    def pick(self, req: Request) -> int:
        algo = self.algo
        if not self.members:
            return -1
        if algo == "roundrobin":
            if self.fwrr is None:
                return self.be.fbck if self.be.fbck is not None else -1
            s = self.fwrr.pick()
            return -1 if s is None else s
        if algo == "static-rr":
            return self._map_rr()
        if algo == "leastconn":
            # Sequential requests: every key is back to 0, so it rotates in order.
            s = self.lc_order.pop(0)
            self.lc_order.append(s)
            return s
        if algo == "first":
            return min(self.members, key=lambda i: self.ids[i])
        if algo == "random":
            if self.be.fbck is not None and not self.be.active:
                return self.be.fbck
            best = -1
            for _ in range(self.draws):
                s = self.ring.lookup(self._xorshift())
                if s is not None:
                    best = s
            return best
        return self._hash_pick(req)

    def fallback(self) -> int:
        """The round-robin pick a hashing pool makes for a request without a key."""
        if self.spec.method == "consistent":
            if self.be.fbck is not None and not self.be.active:
                return self.be.fbck
            s = self.ring.next_server()
            return -1 if s is None else s
        return self._map_rr()

    def pure(self, req: Request) -> int | None:
        """The hash pick, which depends on the request alone; None: use fallback()."""
        if not self.members:
            return -1
        consistent = self.spec.method == "consistent"
        if len(self.members) == 1 and self.algo != "url_param":
            h = 0
        else:
            key = self.key(req)
            if key is None:
                return None
            h = key if isinstance(key, int) else self.hashfn(key)
            if self.spec.avalanche:
                h = full_hash(h)
        return self._lookup(h, consistent)

    def _hash_pick(self, req: Request) -> int:
        picked = self.pure(req)
        return self.fallback() if picked is None else picked

    def _lookup(self, h: int, consistent: bool) -> int:
        if consistent:
            if self.be.fbck is not None and not self.be.active:
                return self.be.fbck
            s = self.ring.lookup(h)
            return -1 if s is None else s
        if not self.map:
            return -1
        return self.map[h % len(self.map)]
