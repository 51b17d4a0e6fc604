"""Reading the balancer's config for health commands: through lbguard's own parsers only."""

from __future__ import annotations

from lbguard.errors import LbguardError
from lbguard.findings import Severity
from lbguard.model import Config, Dialect, Pool


def load_config(path: str, dialect: Dialect | None = None) -> Config:
    """One config, parsed into the shared model; a syntax error is an input error (exit 2)."""
    from lbguard.check import parse_unit, plan_units

    units = [u for u in plan_units([path], dialect, merge=True) if u.kind == "config"]
    if len(units) != 1:
        raise LbguardError(f"{path}: expected one HAProxy or nginx config, found {len(units)}")
    parsed = parse_unit(units[0])
    errors = [f for f in parsed.findings if f.severity >= Severity.ERROR]
    if errors:
        first = errors[0]
        raise LbguardError(
            f"{first.location}: {first.message} (run 'lbguard check {path}' for every problem)"
        )
    return parsed.config


def find_pool(config: Config, name: str) -> Pool:
    pool = config.pool(name)
    if pool is None:
        known = ", ".join(p.name for p in config.pools) or "none"
        raise LbguardError(f"no backend or upstream named '{name}' (known: {known})")
    return pool
