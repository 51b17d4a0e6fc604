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
class Columns:
    """A columnar trace: request i is (clients[client_ids[i]], uris[uri_ids[i]], ...).

    Models whose choice depends on one of these fields alone work on the small
    tables and gather the answer with numpy, tens of millions of requests a second.
    """

    clients: list[str]
    client_ids: np.ndarray
    uris: list[str]
    uri_ids: np.ndarray
    hosts: list[str]
    host_ids: np.ndarray
    users: list[str]
    user_ids: np.ndarray
    # The path part of each URI (without the query): keys that ignore the query
    # string need only this much smaller table.
    paths: list[str] = field(default_factory=list)
    path_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # Behind a proxy: the real clients, sent as X-Forwarded-For.
    forwarded_for: list[str] = field(default_factory=list)
    real_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def request(self, i: int) -> Request:
        headers: tuple[tuple[str, str], ...] = (
            ("Host", self.hosts[int(self.host_ids[i])]),
            ("X-User", self.users[int(self.user_ids[i])]),
        )
        if self.forwarded_for:
            # Behind a proxy the balancer sees the proxy; the client is in the header.
            headers = (*headers, ("X-Forwarded-For", self.forwarded_for[int(self.real_ids[i])]))
        return Request(
            self.clients[int(self.client_ids[i])], self.uris[int(self.uri_ids[i])], headers
        )


class Trace:
    """Requests to replay; built from explicit requests or, lazily, from columns."""

    def __init__(
        self,
        requests: list[Request] | None = None,
        description: dict[str, object] | None = None,
        columns: Columns | None = None,
    ) -> None:
        self._requests = requests
        self.description = description or {}
        self.columns = columns

    @property
    def requests(self) -> list[Request]:
        if self._requests is None:
            cols = self.columns
            assert cols is not None
            self._requests = [cols.request(i) for i in range(len(cols.client_ids))]
        return self._requests

    def __len__(self) -> int:
        if self._requests is None and self.columns is not None:
            return len(self.columns.client_ids)
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
    # For connection-count algorithms: arrival rate (req/s) and mean service time (s).
    # None: requests do not overlap.
    rate: float | None = None
    duration: float | None = None

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
            "load": (
                {"rate": self.rate, "mean_duration_s": self.duration}
                if self.rate and self.duration
                else "requests do not overlap"
            ),
        }

    def generate(self) -> Trace:
        rng = np.random.default_rng(self.seed)
        n = self.requests
        real: list[str] = []
        real_ids = np.zeros(0, dtype=np.int64)
        if self.behind_proxy:
            clients = ["198.51.100.10"]
            client_ids = np.zeros(n, dtype=np.int64)
            real = [
                f"10.{(i % 256) // 256}.{i % 256}.{i // 256 % 254 + 1}" for i in range(self.clients)
            ]
            real_ids = rng.integers(0, len(real), size=n)
        else:
            subnets = max(1, min(self.client_subnets, 65536))
            clients = []
            for i in range(self.clients):
                net = i % subnets
                host = (i // subnets) % 254 + 1
                clients.append(f"10.{net // 256}.{net % 256}.{host}")
            client_ids = rng.integers(0, len(clients), size=n)
        ranks = np.minimum(rng.zipf(self.zipf, size=n), self.uris) - 1
        user_count = max(self.header_cardinality, 1)
        user_ids = rng.integers(0, user_count, size=n)
        # A URI carries its user as a query argument: one table entry per (path, user)
        # pair would be too many, so URIs and users are drawn apart and the URI table
        # holds only the pairs that occur.
        pairs = ranks * user_count + user_ids
        unique_pairs, uri_ids = np.unique(pairs, return_inverse=True)
        uris = [f"/item/{int(p) // user_count}?user=u{int(p) % user_count}" for p in unique_pairs]
        host_count = max(self.hosts, 1)
        hosts = (
            [f"shop{i}.example" for i in range(host_count)] if host_count > 1 else ["shop.example"]
        )
        host_ids = rng.integers(0, host_count, size=n)
        users = [f"u{i}" for i in range(user_count)]
        paths = [f"/item/{i}" for i in range(self.uris)]
        columns = Columns(
            clients,
            client_ids,
            uris,
            uri_ids,
            hosts,
            host_ids,
            users,
            user_ids,
            paths,
            ranks.astype(np.int64),
            real,
            real_ids,
        )
        return Trace(None, self.describe(), columns)


def ip_words(address: str) -> tuple[int, ...]:
    """32-bit big-endian words of an address (1 for IPv4, 4 for IPv6); () if not an IP."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ()
    raw = ip.packed
    return tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4))
