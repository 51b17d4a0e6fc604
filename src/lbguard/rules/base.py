"""What a rule is: a stable code, a name that names the problem, options, and a check().

Rules read only the shared model, never files, so one rule serves every dialect it
declares. The class docstring is the user documentation (What it does / Why is this
bad? / Example / Use instead); `docs/rules/` is generated from it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect, Frontend, Location, Pool, Server

T = TypeVar("T")

DOCS_BASE = "https://lbguard.dev/rules/"


@dataclass(frozen=True)
class Option:
    """A rule setting users may change in lbguard.toml under [rules.<name>]."""

    name: str
    type: type
    default: Any
    doc: str


class ConfigIndex:
    """Indexes of one config that many rules consult: built once per check, not per rule.

    Each is built on first use, so a config whose rules never ask pays nothing.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._routes_to: dict[str, list[Frontend]] | None = None
        self._dynamic: bool | None = None
        self._receives: dict[int, bool] = {}
        self._serving: dict[int, tuple[Server, ...]] = {}

    def frontends_routing_to(self, pool: Pool) -> list[Frontend]:
        if self._routes_to is None:
            index: dict[str, list[Frontend]] = {}
            for fe in self.config.frontends:
                for route in fe.routes:
                    index.setdefault(route.pool, []).append(fe)
            self._routes_to = index
        return self._routes_to.get(pool.name, [])

    def has_dynamic_routes(self) -> bool:
        if self._dynamic is None:
            self._dynamic = any(
                "%[" in route.pool or "$" in route.pool
                for fe in self.config.frontends
                for route in fe.routes
            )
        return self._dynamic

    def serving_servers(self, pool: Pool) -> tuple[Server, ...]:
        # Keyed by identity, as below; a pool is frozen, so its answer cannot change.
        serving = self._serving.get(id(pool))
        if serving is None:
            serving = self._serving[id(pool)] = pool.serving_servers()
        return serving

    def receives_traffic(self, pool: Pool) -> bool:
        # Keyed by identity: the config, and so its pools, outlive the check.
        known = self._receives.get(id(pool))
        if known is None:
            known = self._receives[id(pool)] = (
                pool.kind == "listen"
                or self.config.fragment
                or bool(self.frontends_routing_to(pool))
                or self.has_dynamic_routes()
                or not self.config.frontends
            )
        return known


@dataclass
class RuleContext:
    """What a rule may consult besides the node it visits."""

    config: Config
    options: Mapping[str, Any]
    # Shared by the rules of one check; a context made on its own gets its own.
    index: ConfigIndex | None = field(default=None, repr=False)
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = ConfigIndex(self.config)

    def memo(self, key: Hashable, factory: Callable[[], T]) -> T:
        """Compute a per-config index once, however many nodes the rule visits."""
        if key not in self._memo:
            self._memo[key] = factory()
        value: T = self._memo[key]
        return value

    def frontends_routing_to(self, pool: Pool) -> list[Frontend]:
        """Frontends with a static route (use_backend, default_backend, proxy_pass) to `pool`."""
        assert self.index is not None
        return self.index.frontends_routing_to(pool)

    def has_dynamic_routes(self) -> bool:
        """True when some route names its pool at runtime (%[...] or $variable)."""
        assert self.index is not None
        return self.index.has_dynamic_routes()

    def serving_servers(self, pool: Pool) -> tuple[Server, ...]:
        """`pool.serving_servers()`, worked out once for all the rules that ask."""
        assert self.index is not None
        return self.index.serving_servers(pool)

    def receives_traffic(self, pool: Pool) -> bool:
        """Whether some frontend can send traffic to the pool (or we cannot tell it can't)."""
        assert self.index is not None
        return self.index.receives_traffic(pool)


class Rule:
    """Base class; subclasses set the class attributes and implement one check method."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    # Which model nodes the rule visits: "pool", "frontend" or "config".
    target: ClassVar[str]
    dialects: ClassVar[frozenset[Dialect]] = frozenset({Dialect.HAPROXY, Dialect.NGINX})
    options: ClassVar[tuple[Option, ...]] = ()
    # Examples for the rule's case tests and docs: (dialect, config text, expected lines).
    # A line of 0 in a failing case means "the rule fires, anywhere".

    def check_pool(self, pool: Pool, ctx: RuleContext) -> Iterator[Finding]:
        return iter(())

    def check_frontend(self, frontend: Frontend, ctx: RuleContext) -> Iterator[Finding]:
        return iter(())

    def check_config(self, config: Config, ctx: RuleContext) -> Iterator[Finding]:
        return iter(())

    def finding(
        self,
        message: str,
        location: Location,
        *,
        context: tuple[str, ...] = (),
        severity: Severity | None = None,
        fix: str | None = None,
    ) -> Finding:
        return Finding(
            self.code,
            self.name,
            self.severity if severity is None else severity,
            message,
            location,
            context,
            fix,
        )

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().splitlines()[0] if cls.doc() else cls.name

    @classmethod
    def help_uri(cls) -> str:
        return f"{DOCS_BASE}{cls.code}/"

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {o.name: o.default for o in cls.options}


def pool_context(pool: Pool) -> tuple[str, ...]:
    return (f"{pool.kind} {pool.name}",)


def server_context(pool: Pool, server_name: str) -> tuple[str, ...]:
    return (f"{pool.kind} {pool.name}", f"server {server_name}")


def percent(share: float) -> str:
    return f"{share * 100:.0f}%" if share * 100 == round(share * 100) else f"{share * 100:.1f}%"
