"""One balancer-neutral model of a load-balancer configuration.

Every dialect parser (HAProxy, nginx, and later others) produces these objects, and
every command (check, simulate, verify, watch, audit) reads only these objects. That
is what lets a rule or a simulation written once apply to every balancer.

All nodes are frozen: a parsed config is a value, safe to share between threads
and to hash for baselines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

_T = TypeVar("_T")

EMPTY_MAP: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based span in a source file; end is inclusive of the last column."""

    path: str
    line: int
    column: int = 1
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Directive:
    """A raw keyword line (HAProxy) or directive (nginx), kept for rules and redaction."""

    name: str
    args: tuple[str, ...]
    location: Location
    # Set when the directive came from a `defaults` section (or an nginx outer block):
    # the name of the section it was inherited from.
    inherited_from: str | None = None
    # 1-based column of each argument, so a finding can point at the exact word.
    arg_columns: tuple[int, ...] = ()

    def arg_location(self, index: int) -> Location:
        """The span of argument `index` (0-based), or the whole directive if unknown."""
        if index < len(self.arg_columns) and index < len(self.args):
            col = self.arg_columns[index]
            end = col + max(len(self.args[index]), 1) - 1
            return Location(self.location.path, self.location.line, col, self.location.line, end)
        return self.location


@dataclass(frozen=True, slots=True)
class Setting:
    """A resolved value together with where it was written and whether it was inherited."""

    value: str
    location: Location
    inherited_from: str | None = None


class Dialect(StrEnum):
    HAPROXY = "haproxy"
    NGINX = "nginx"


@dataclass(frozen=True, slots=True)
class Server:
    """One upstream server line as the balancer will see it.

    `address` is None when the address part is empty (``server web-02 :80``), which is
    the signature of an unset shell variable in a generated config.
    """

    name: str
    address: str | None
    port: int | None
    location: Location
    weight: int = 1
    backup: bool = False
    disabled: bool = False
    check: bool = False
    maxconn: int | None = None
    maxqueue: int | None = None
    slowstart: float | None = None
    agent_check: bool = False
    # Everything after the address, as written: ("check", None), ("weight", "10") ...
    options: tuple[tuple[str, str | None], ...] = ()
    # server-template NAME NUM ...: how many servers the template expands to.
    template_count: int | None = None
    # Where the address came from when the line was produced by a template or script.
    address_text: str = ""
    # nginx: max_fails (None = default of 1); HAProxy leaves it None.
    max_fails: int | None = None
    # The span of the address word, so an empty or odd address is pointed at exactly.
    address_location: Location | None = None

    @property
    def endpoint(self) -> str:
        host = self.address if self.address is not None else ""
        if self.port is None:
            return host
        if ":" in host and not host.startswith("["):
            return f"[{host}]:{self.port}"
        return f"{host}:{self.port}"

    def option(self, name: str) -> str | None:
        for key, value in self.options:
            if key == name:
                return value if value is not None else ""
        return None

    def has_option(self, name: str) -> bool:
        return any(key == name for key, _ in self.options)


@dataclass(frozen=True, slots=True)
class Balance:
    """The balancing algorithm and its parameters, normalised across dialects.

    `algorithm` uses each balancer's own name (HAProxy: ``roundrobin``, ``static-rr``,
    ``leastconn``, ``first``, ``source``, ``uri``, ``url_param``, ``hdr``, ``random``,
    ``rdp-cookie``, ``hash``; nginx: ``round_robin``, ``ip_hash``, ``hash``,
    ``least_conn``, ``random``), because the simulator must model each exactly.
    """

    algorithm: str
    location: Location | None = None
    args: tuple[str, ...] = ()
    # The hash key where the algorithm hashes one: "src", "uri", "hdr(host)", "$remote_addr".
    key: str | None = None
    # HAProxy hash-type: "map-based" (default) or "consistent"; nginx "consistent".
    hash_type: str = "map-based"
    hash_function: str = "sdbm"
    avalanche: bool = False
    hash_balance_factor: int = 0
    inherited_from: str | None = None

    @property
    def is_hash(self) -> bool:
        return self.algorithm in {
            "source",
            "uri",
            "url_param",
            "hdr",
            "rdp-cookie",
            "hash",
            "ip_hash",
        }


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """How the pool notices a dead or overloaded server."""

    kind: str = "none"  # none, tcp, http, agent, passive
    location: Location | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class Persistence:
    kind: str  # cookie, stick-table
    location: Location


@dataclass(frozen=True, slots=True)
class Pool:
    """A set of servers that share one balancing decision (HAProxy backend, nginx upstream)."""

    name: str
    kind: str  # backend, listen, upstream, defaults-only...
    location: Location
    balance: Balance
    servers: tuple[Server, ...] = ()
    mode: str = "http"
    persistence: tuple[Persistence, ...] = ()
    health: HealthCheck = field(default_factory=HealthCheck)
    timeouts: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))
    # Flags a rule may ask about by name: allbackups, redispatch, ...
    flags: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))
    directives: tuple[Directive, ...] = ()
    # nginx: worker_processes N gives N independent round-robin schedulers.
    workers: int = 1
    # Where this pool was defined when it was synthesised (nginx proxy_pass to a literal).
    implicit: bool = False

    def has_flag(self, name: str) -> bool:
        return name in self.flags

    # Rules ask these of every pool, several times each: list comprehensions, which
    # build the tuple about twice as fast as a generator expression.
    def active_servers(self) -> tuple[Server, ...]:
        """Servers that take traffic while all are healthy: not backup, not disabled."""
        return tuple([s for s in self.servers if not s.backup and not s.disabled])

    def backup_servers(self) -> tuple[Server, ...]:
        return tuple([s for s in self.servers if s.backup and not s.disabled])

    def serving_servers(self) -> tuple[Server, ...]:
        """The servers that really receive requests when every server is healthy.

        HAProxy and nginx both skip weight-0 servers and use backups only when no
        active server can take traffic; without `option allbackups` HAProxy uses
        just the first backup.
        """
        active = tuple(
            [s for s in self.servers if not s.backup and not s.disabled and s.weight > 0]
        )
        if active:
            return active
        backups = tuple([s for s in self.backup_servers() if s.weight > 0])
        if not backups:
            return ()
        if self.balance.algorithm in {"round_robin", "least_conn"} or "allbackups" in self.flags:
            return backups
        return backups[:1]

    def weight_shares(self) -> dict[str, float]:
        """Each server's share of traffic from weights alone, keyed by server name."""
        serving = self.serving_servers()
        total = sum([s.weight for s in serving])
        shares = dict.fromkeys([s.name for s in self.servers], 0.0)
        if total <= 0:
            return shares
        for s in serving:
            shares[s.name] = shares.get(s.name, 0.0) + s.weight / total
        return shares


@dataclass(frozen=True, slots=True)
class Route:
    """A frontend's decision to send some traffic to a pool."""

    pool: str
    location: Location
    condition: str | None = None
    default: bool = False


@dataclass(frozen=True, slots=True)
class Bind:
    address: str
    location: Location
    options: tuple[str, ...] = ()

    @property
    def accept_proxy(self) -> bool:
        return "accept-proxy" in self.options or "proxy_protocol" in self.options


@dataclass(frozen=True, slots=True)
class Frontend:
    """Where traffic enters: HAProxy frontend/listen, nginx server block."""

    name: str
    kind: str  # frontend, listen, server
    location: Location
    binds: tuple[Bind, ...] = ()
    routes: tuple[Route, ...] = ()
    mode: str = "http"
    timeouts: Mapping[str, Setting] = field(default_factory=lambda: MappingProxyType({}))
    directives: tuple[Directive, ...] = ()

    @property
    def default_route(self) -> Route | None:
        for route in self.routes:
            if route.default:
                return route
        return None


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str
    sha256: str
    lines: int


@dataclass(frozen=True, slots=True)
class Section:
    """A raw top-level section or block, for rules that need what the model abstracts away."""

    kind: str
    name: str
    location: Location
    # Every directive but `server` lines, which are in Pool.servers.
    directives: tuple[Directive, ...]
    # First and last line of the section's body (0 when it is empty).
    end_line: int = 0
    body_line: int = 0


@dataclass(frozen=True)
class Config:
    """A whole parsed configuration: every file it read and every node it defines."""

    dialect: Dialect
    files: tuple[SourceFile, ...]
    pools: tuple[Pool, ...] = ()
    frontends: tuple[Frontend, ...] = ()
    sections: tuple[Section, ...] = ()
    # Names of environment variables referenced but unset, with where.
    unresolved_env: tuple[tuple[str, Location], ...] = ()
    # Comments as written (without the leading '#'), for suppressions and for rules
    # that read the author's notes ("behind Cloudflare").
    comments: tuple[tuple[Location, str], ...] = ()
    # A fragment (an nginx conf.d file, say) is included into a larger config that
    # lbguard did not see: rules that cross-reference names must not guess.
    fragment: bool = False

    def pool(self, name: str) -> Pool | None:
        for pool in self.pools:
            if pool.name == name:
                return pool
        return None

    def iter_servers(self) -> Iterator[tuple[Pool, Server]]:
        for pool in self.pools:
            for server in pool.servers:
                yield pool, server


def positional_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A constructor for the frozen, slotted dataclass `cls` taking every field in order.

    Only for the parsers' hot paths (one call per server line of a 125k-line config).
    With lbguard's C speedups it is a C object that fills the slots directly; without
    them, the Python twin `python_constructor`. Both build the same instance as
    ``cls(*args)``.
    """
    from lbguard.speedups import native

    if native is None:
        return python_constructor(cls)
    builder: Callable[..., _T] = native.Builder(cls, _slotted_fields(cls))
    return builder


def _slotted_fields(cls: type) -> tuple[str, ...]:
    """The fields of `cls`, checked to be all of its slots and all it needs to be built."""
    names = tuple(f.name for f in fields(cls))
    if names != tuple(getattr(cls, "__slots__", None) or ()) or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass without a base class")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__, which this would skip")
    return names


def python_constructor(cls: type[_T]) -> Callable[..., _T]:
    """`positional_constructor` in pure Python: the definition, and the fallback.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__(self,
    "name", value)``, a global lookup plus an attribute lookup plus a call per field.
    Instead the instance is born as a mutable twin class with the very same slots
    (so the same memory layout), filled with plain attribute stores, which the
    interpreter specialises, and then given its real class: the same instance as
    ``cls(*args)`` in about a third of the time. The twin is derived from
    ``fields(cls)``, so it cannot drift from the class: every field is required and
    is set exactly as ``cls(*args)`` would set it (no ``__post_init__`` exists).
    """
    names = _slotted_fields(cls)
    twin = type(f"_Building{cls.__name__}", (), {"__slots__": tuple(names)})
    namespace: dict[str, object] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    body = [f"    self.{name} = {name}\n" for name in names]
    source = (
        f"def new_{cls.__name__}({', '.join(names)}):\n"
        "    self = _new(_twin)\n" + "".join(body) + "    self.__class__ = _cls\n"
        "    return self\n"
    )
    exec(source, namespace)  # the source is built from field names only
    made = namespace[f"new_{cls.__name__}"]
    assert callable(made)
    return made
