"""Traffic to replay through a model (and, later, through the real balancer).

A trace is explicit per request: the client address the balancer sees, the request
target, and the headers in order. The same trace drives the simulator and the
loopback sandbox, so their answers can be compared request by request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Request:
    client: str
    uri: str = "/"
    headers: tuple[tuple[str, str], ...] = (("Host", "lb.test"),)

    def header(self, name: str) -> str | None:
        """The first header with this name, case-insensitively, as HAProxy and nginx read it."""
        low = name.lower()
        for key, value in self.headers:
            if key.lower() == low:
                return value
        return None


@dataclass
class Trace:
    requests: list[Request]
    description: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.requests)

    def __iter__(self) -> Iterator[Request]:
        return iter(self.requests)

    @classmethod
    def from_dicts(cls, rows: Sequence[Mapping[str, object]]) -> Trace:
        out = []
        for row in rows:
            headers = row.get("headers") or {}
            assert isinstance(headers, Mapping)
            out.append(
                Request(
                    str(row.get("client", "127.0.0.1")),
                    str(row.get("uri", "/")),
                    tuple((str(k), str(v)) for k, v in headers.items()),
                )
            )
        return cls(out)


@dataclass(frozen=True)
class TrafficModel:
    """The synthetic population lbguard assumes when no log is given.

    Defaults: 20,000 requests from 5,000 distinct IPv4 clients spread over 256 /24
    networks, no proxy in front, URIs drawn from a Zipf(1.1) popularity over 10,000
    paths, a single Host. `behind_proxy` makes every request come from one address,
    which is what a CDN or an L7 proxy in front of the balancer looks like.
    """

    requests: int = 20_000
    clients: int = 5_000
    client_subnets: int = 256
    behind_proxy: bool = False
    uris: int = 10_000
    zipf: float = 1.1
    hosts: int = 1
    header_cardinality: int = 1_000
    seed: int = 1

    def describe(self) -> dict[str, object]:
        return {
            "kind": "synthetic",
            "requests": self.requests,
            "clients": 1 if self.behind_proxy else self.clients,
            "client_subnets": 1 if self.behind_proxy else self.client_subnets,
            "behind_proxy": self.behind_proxy,
            "uris": self.uris,
            "zipf": self.zipf,
            "hosts": self.hosts,
            "header_cardinality": self.header_cardinality,
            "seed": self.seed,
        }

    def generate(self) -> Trace:
        rng = np.random.default_rng(self.seed)
        n = self.requests
        if self.behind_proxy:
            clients = ["198.51.100.10"] * n
        else:
            subnets = max(1, min(self.client_subnets, 65536))
            pool = []
            per = max(1, self.clients // subnets)
            for i in range(self.clients):
                net = i % subnets
                host = (i // subnets) % 254 + 1 if per > 1 else 1 + i % 254
                pool.append(f"10.{net // 256}.{net % 256}.{host}")
            picks = rng.integers(0, len(pool), size=n)
            clients = [pool[i] for i in picks]
        ranks = np.minimum(rng.zipf(self.zipf, size=n), self.uris) - 1
        users = rng.integers(0, max(self.header_cardinality, 1), size=n)
        hosts = rng.integers(0, max(self.hosts, 1), size=n)
        requests = [
            Request(
                clients[i],
                f"/item/{int(ranks[i])}?user=u{int(users[i])}",
                (
                    ("Host", f"shop{int(hosts[i])}.example" if self.hosts > 1 else "shop.example"),
                    ("X-User", f"u{int(users[i])}"),
                ),
            )
            for i in range(n)
        ]
        return Trace(requests, self.describe())


def ip_words(address: str) -> tuple[int, ...]:
    """32-bit big-endian words of an address (1 for IPv4, 4 for IPv6); () if not an IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ()
    raw = ip.packed
    return tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4))
