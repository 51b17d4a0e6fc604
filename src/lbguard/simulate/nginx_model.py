"""nginx 1.22 upstream selection: smooth weighted round robin (per worker), ip_hash,
hash KEY, hash KEY consistent (ketama), least_conn and random, with backup and down.

Without a `zone`, every worker keeps its own round-robin state; which worker gets a
connection is the kernel's choice. The model deals connections to workers round
robin (stated in the output); with one worker it reproduces nginx exactly.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np

from lbguard.model import Pool, Server
from lbguard.simulate.hashes import crc32
from lbguard.simulate.traffic import Request, ip_words

MAX_TRIES = 20


class _Swrr:
    """One list's smooth-WRR state (current_weight per peer, effective == weight here)."""

    def __init__(self, peers: list[int], weights: dict[int, int]) -> None:
        self.peers = peers
        self.weights = weights
        self.current = dict.fromkeys(peers, 0)

    def pick(self, eligible: set[int]) -> int | None:
        total = 0
        best: int | None = None
        for p in self.peers:
            if p not in eligible:
                continue
            self.current[p] += self.weights[p]
            total += self.weights[p]
            if best is None or self.current[p] > self.current[best]:
                best = p
        if best is None:
            return None
        self.current[best] -= total
        return best


def _split_server(text: str) -> tuple[str, str]:
    """ketama's host/port split of the server string as written."""
    if text[:5].lower() == "unix:":
        return text[5:], ""
    i = len(text)
    while i > 0 and text[i - 1].isdigit():
        i -= 1
    if i > 0 and text[i - 1] == ":":
        return text[: i - 1], text[i:]
    return text, ""


def evaluate_key(key: str, req: Request) -> str:
    """The nginx variables a `hash` key uses in practice; unknown ones are empty."""

    def var(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name == "request_uri":
            return req.uri
        if name == "uri":
            return req.uri.split("?", 1)[0]
        if name in ("remote_addr", "binary_remote_addr"):
            return req.client
        if name in ("host", "http_host"):
            return (req.header("Host") or "").split(":", 1)[0].lower()
        if name == "args" or name == "query_string":
            return req.uri.split("?", 1)[1] if "?" in req.uri else ""
        if name.startswith("arg_"):
            arg = name[4:].lower()
            if "?" not in req.uri:
                return ""
            for part in req.uri.split("?", 1)[1].split("&"):
                k, eq, v = part.partition("=")
                if eq and k.lower() == arg:
                    return v
            return ""
        if name.startswith("http_"):
            return req.header(name[5:].replace("_", "-")) or ""
        if name.startswith("cookie_"):
            for part in (req.header("Cookie") or "").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name[7:]:
                    return v
            return ""
        return ""

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", var, key)


@dataclass
class NginxScheduler:
    pool: Pool
    seed: int = 1
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        servers = self.pool.servers
        self.primary = [i for i, s in enumerate(servers) if not s.backup]
        self.backup = [i for i, s in enumerate(servers) if s.backup]
        self.weights = {i: max(s.weight, 1) for i, s in enumerate(servers)}
        self.down = {i for i, s in enumerate(servers) if s.disabled}
        self.total_weight = sum(self.weights[i] for i in self.primary)
        self.single = len(self.primary) == 1 and not self.backup
        self.workers = max(1, self.pool.workers)
        self.rr = [
            (_Swrr(self.primary, self.weights), _Swrr(self.backup, self.weights))
            for _ in range(self.workers)
        ]
        self.conn = 0
        algo = self.pool.balance.algorithm
        self.algo = algo
        self.key = self.pool.balance.key or ""
        self.rng = np.random.default_rng(self.seed)
        if self.workers > 1:
            self.notes.append(
                f"{self.workers} workers, each with its own round-robin state; connections "
                "are dealt to workers in turn"
            )
        if algo == "random":
            self.notes.append(
                "random: nginx seeds random() per worker from its pid and the clock, so the "
                f"draws are modelled with a seeded generator (seed {self.seed})"
            )
        if algo == "least_conn":
            self.notes.append(
                "least_conn: requests do not overlap, so it behaves as smooth weighted round robin"
            )
        if self.pool.balance.hash_type == "consistent" and algo == "hash":
            self._build_ring(servers)

    # -- round robin
    def _eligible(self, peers: list[int]) -> set[int]:
        return {p for p in peers if p not in self.down}

    def _round_robin(self, worker: int) -> int:
        if self.single:
            only = self.primary[0]
            return -1 if only in self.down else only
        primary, backup = self.rr[worker]
        p = primary.pick(self._eligible(self.primary))
        if p is None and self.backup:
            p = backup.pick(self._eligible(self.backup))
        return -1 if p is None else p

    # -- weighted walk shared by ip_hash and hash
    def _walk(self, w: int) -> int:
        for p in self.primary:
            if w < self.weights[p]:
                return p
            w -= self.weights[p]
        return self.primary[-1]

    def pick(self, req: Request) -> int:
        worker = self.conn % self.workers
        self.conn += 1
        algo = self.algo
        if algo in ("round_robin", "least_conn") or self.total_weight == 0:
            return self._round_robin(worker)
        if algo == "ip_hash":
            return self._ip_hash(req, worker)
        if algo == "hash":
            if self.pool.balance.hash_type == "consistent":
                return self._chash(req, worker)
            return self._hash(req, worker)
        if algo == "random":
            return self._random(worker)
        return self._round_robin(worker)

    def pure(self, req: Request) -> int | None:
        """The hash pick, which depends on the request alone; None: round robin instead."""
        if self.total_weight == 0 or self.single:
            return None
        if self.algo == "ip_hash":
            return self._ip_hash_pure(req)
        if self.algo == "hash":
            if self.pool.balance.hash_type == "consistent":
                return self._chash_pure(req)
            return self._hash_pure(req)
        return None

    def fallback(self, position: int) -> int:
        return self._round_robin(position % self.workers)

    def _ip_hash(self, req: Request, worker: int) -> int:
        picked = self.pure(req)
        return self._round_robin(worker) if picked is None else picked

    def _ip_hash_pure(self, req: Request) -> int | None:
        words = ip_words(req.client)
        if len(words) == 1:
            key = words[0].to_bytes(4, "big")[:3]
        elif len(words) == 4:
            key = b"".join(w.to_bytes(4, "big") for w in words)
        else:
            key = b"\x00\x00\x00"
        h = 89
        for _ in range(MAX_TRIES + 1):
            for x in key:
                h = (h * 113 + x) % 6271
            p = self._walk(h % self.total_weight)
            if p not in self.down:
                return p
        return None

    def _hash(self, req: Request, worker: int) -> int:
        picked = self.pure(req)
        return self._round_robin(worker) if picked is None else picked

    def _hash_pure(self, req: Request) -> int | None:
        key = evaluate_key(self.key, req)
        if not key:
            return None
        acc = 0
        for attempt in range(MAX_TRIES + 1):
            prefix = str(attempt) if attempt else ""
            h = (crc32((prefix + key).encode()) >> 16) & 0x7FFF
            acc += h
            p = self._walk(acc % self.total_weight)
            if p not in self.down:
                return p
        return None

    def _build_ring(self, servers: tuple[Server, ...]) -> None:
        points: list[tuple[int, int]] = []
        for i in self.primary:
            host, port = _split_server(servers[i].name)
            base = host.encode() + b"\x00" + port.encode()
            prev = 0
            for _ in range(160 * self.weights[i]):
                prev = crc32(base + prev.to_bytes(4, "little"))
                points.append((prev, i))
        points.sort(key=lambda p: p[0])
        dedup: list[tuple[int, int]] = []
        for value, srv in points:
            if dedup and dedup[-1][0] == value:
                continue
            dedup.append((value, srv))
        self.ring_keys = [v for v, _ in dedup]
        self.ring_servers = [s for _, s in dedup]

    def _chash(self, req: Request, worker: int) -> int:
        picked = self.pure(req)
        return self._round_robin(worker) if picked is None else picked

    def _chash_pure(self, req: Request) -> int | None:
        key = evaluate_key(self.key, req)
        if not key or not self.ring_keys:
            return None
        index = bisect_left(self.ring_keys, crc32(key.encode()))
        n = len(self.ring_keys)
        for _ in range(MAX_TRIES + 1):
            p = self.ring_servers[index % n]
            if p not in self.down:
                return p
            index += 1
        return None

    def _random(self, worker: int) -> int:
        cumulative = np.cumsum([self.weights[p] for p in self.primary])
        two = "two" in self.pool.balance.args
        for _ in range(MAX_TRIES + 1):
            x = int(self.rng.integers(0, self.total_weight))
            p = self.primary[int(np.searchsorted(cumulative, x, side="right"))]
            if p in self.down:
                continue
            if two:
                # With non-overlapping requests both draws have no connections: the
                # second draw wins the tie, as in nginx.
                q = self.primary[
                    int(
                        np.searchsorted(
                            cumulative, int(self.rng.integers(0, self.total_weight)), side="right"
                        )
                    )
                ]
                if q not in self.down and q != p:
                    return q
            return p
        return self._round_robin(worker)
