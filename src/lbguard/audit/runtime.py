"""Is what is running what the file says? HAProxy's runtime state against the model.

A config file is only a promise: an operator may have drained a server by hand and
forgotten it, set a weight at runtime, or edited the file without the reload that
would apply it. The runtime API shows all three: `show servers state` has each
server's admin flags and its user and initial weights, `show stat` its status, and
`show info` when the process started.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbguard.audit.findings import AuditFinding, Kind
from lbguard.findings import Severity
from lbguard.haproxy_runtime import (
    ADMIN_CMAINT,
    ADMIN_FDRAIN,
    ADMIN_FMAINT,
    ADMIN_IDRAIN,
    ADMIN_IMAINT,
    RuntimeClient,
)
from lbguard.model import Config, Dialect, Server
from lbguard.util import is_digits


@dataclass
class RuntimeSnapshot:
    """What the process reported, keyed by (backend, server)."""

    servers: dict[tuple[str, str], dict[str, str]]
    stats: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    taken_at: float = 0.0

    @classmethod
    def read(cls, client: RuntimeClient) -> RuntimeSnapshot:
        state = client.show_servers_state()
        stats = client.show_stat()
        info = client.show_info()
        return cls(
            {(r.get("be_name", ""), r.get("srv_name", "")): r for r in state},
            {
                (r.get("pxname", ""), r.get("svname", "")): r
                for r in stats
                if r.get("svname") not in ("FRONTEND", "BACKEND")
            },
            info,
            time.time(),
        )

    def started_at(self) -> float | None:
        """When the running process (the worker, after a reload) started, in epoch seconds."""
        start = self.info.get("Start_time_sec", "")
        if is_digits(start):
            return float(start)
        uptime = self.info.get("Uptime_sec", "")
        if is_digits(uptime):
            return self.taken_at - float(uptime)
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and is_digits(value.lstrip("-")) else None


def _finding(
    kind: Kind, severity: Severity, message: str, pool: str, server: str | None, config: Config
) -> AuditFinding:
    where = config.pool(pool)
    line = path = None
    if where is not None:
        path, line = where.location.path, where.location.line
        for s in where.servers:
            if s.name == server:
                path, line = s.location.path, s.location.line
    subject = f"backend {pool}" + (f", server {server}" if server else "")
    return AuditFinding(kind, severity, message, subject, pool, server, path, line)


def compare_runtime(
    config: Config, snap: RuntimeSnapshot, paths: Iterable[str] = ()
) -> list[AuditFinding]:
    """Findings where the running process and the config file disagree."""
    if config.dialect is not Dialect.HAPROXY:
        return []
    out: list[AuditFinding] = []
    file_servers: set[tuple[str, str]] = set()
    running_pools = {be for be, _ in snap.servers}
    for pool in config.pools:
        if pool.kind not in ("backend", "listen"):
            continue
        for server in pool.servers:
            key = (pool.name, server.name)
            file_servers.add(key)
            row = snap.servers.get(key)
            if row is None:
                reason = (
                    "the process has no such backend"
                    if pool.name not in running_pools
                    else "the process has no such server"
                )
                out.append(
                    _finding(
                        Kind.STALE_RELOAD,
                        Severity.ERROR,
                        f"backend {pool.name}: server {server.name} is in the file but not in "
                        f"the running process ({reason}): the config was not reloaded",
                        pool.name,
                        server.name,
                        config,
                    )
                )
                continue
            out.extend(_server_findings(config, pool.name, server.name, server, row, snap))
    for (be, name), _row in sorted(snap.servers.items()):
        if (be, name) not in file_servers and config.pool(be) is not None:
            out.append(
                _finding(
                    Kind.STALE_RELOAD,
                    Severity.WARNING,
                    f"backend {be}: server {name} runs in the process but is not in the file: "
                    "the process runs an older config",
                    be,
                    name,
                    config,
                )
            )
    out.extend(_age_findings(snap, paths))
    return out


def _server_findings(
    config: Config,
    pool: str,
    name: str,
    server: Server,
    row: Mapping[str, str],
    snap: RuntimeSnapshot,
) -> list[AuditFinding]:
    out: list[AuditFinding] = []
    admin = _int(row.get("srv_admin_state")) or 0
    uweight = _int(row.get("srv_uweight"))
    iweight = _int(row.get("srv_iweight"))
    status = snap.stats.get((pool, name), {}).get("status", "")
    where = f"backend {pool}: server {name}"
    if admin & (ADMIN_FMAINT | ADMIN_IMAINT) and not server.disabled:
        how = (
            "set by hand (runtime API)"
            if admin & ADMIN_FMAINT
            else "inherited from a tracked server"
        )
        out.append(
            _finding(
                Kind.RUNTIME_MISMATCH,
                Severity.WARNING,
                f"{where} is in maintenance ({how}), but the file has it enabled; "
                "it takes no traffic",
                pool,
                name,
                config,
            )
        )
    if server.disabled and not admin & ADMIN_CMAINT:
        out.append(
            _finding(
                Kind.STALE_RELOAD,
                Severity.WARNING,
                f"{where} is 'disabled' in the file but the process loaded it enabled: "
                "the config was not reloaded",
                pool,
                name,
                config,
            )
        )
    if admin & (ADMIN_FDRAIN | ADMIN_IDRAIN) or (status == "DRAIN" and server.weight > 0):
        out.append(
            _finding(
                Kind.RUNTIME_MISMATCH,
                Severity.WARNING,
                f"{where} is draining (status {status or 'DRAIN'}), but the file gives it "
                f"weight {server.weight}; it takes no new traffic",
                pool,
                name,
                config,
            )
        )
    if iweight is not None and iweight != server.weight:
        out.append(
            _finding(
                Kind.STALE_RELOAD,
                Severity.WARNING,
                f"{where} was loaded with weight {iweight}, the file says {server.weight}: "
                "the config was not reloaded",
                pool,
                name,
                config,
            )
        )
    elif uweight is not None and uweight != server.weight:
        out.append(
            _finding(
                Kind.RUNTIME_MISMATCH,
                Severity.WARNING,
                f"{where} runs with weight {uweight}, the file says {server.weight} "
                "(changed at runtime with 'set weight')",
                pool,
                name,
                config,
            )
        )
    return out


def _age_findings(snap: RuntimeSnapshot, paths: Iterable[str]) -> list[AuditFinding]:
    started = snap.started_at()
    if started is None:
        return []
    out = []
    for path in paths:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        if mtime > started + 1:  # mtimes and Start_time_sec have 1 s resolution
            ago = _ago(mtime - started)
            out.append(
                AuditFinding(
                    Kind.STALE_RELOAD,
                    Severity.WARNING,
                    f"{path} changed {ago} after the running HAProxy process started "
                    f"(pid {snap.info.get('Pid', '?')}): reload it to apply the file",
                    path,
                    path=path,
                    detail={"file_mtime": mtime, "process_start": started},
                )
            )
    return out


def _ago(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"
