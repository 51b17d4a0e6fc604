"""A small client for HAProxy's runtime API (the `stats socket`): one command per connection."""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass

from lbguard.errors import LbguardError


@dataclass(frozen=True, slots=True)
class ServerState:
    """One server as HAProxy sees it now (a `show stat` row)."""

    name: str
    status: str  # UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/3", "no check"...
    weight: int  # effective weight
    initial_weight: int
    backup: bool = False

    @property
    def healthy(self) -> bool:
        """Passing its checks (or not checked), whatever its admin state."""
        head = self.status.split(" ", 1)[0]
        return head in ("UP", "DRAIN", "NOLB", "no") or self.status == "no check"

    @property
    def active(self) -> bool:
        """Taking new traffic: healthy, ready (not drained) and with a positive weight."""
        head = self.status.split(" ", 1)[0]
        return (head == "UP" or self.status == "no check") and self.weight > 0 and not self.backup


@dataclass(frozen=True, slots=True)
class PoolState:
    name: str
    servers: tuple[ServerState, ...]

    def server(self, name: str) -> ServerState | None:
        for s in self.servers:
            if s.name == name:
                return s
        return None


class RuntimeAPI:
    """HAProxy's runtime API at a unix socket path or a `host:port` (ipv4@ / ipv6@) address."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout

    def _socket(self) -> socket.socket:
        if "/" in self.address or ":" not in self.address:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.address
        else:
            host, _, port = self.address.rpartition(":")
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        s.settimeout(self.timeout)
        try:
            s.connect(target)
        except OSError as exc:
            s.close()
            raise LbguardError(
                f"cannot reach HAProxy's runtime API at {self.address}: {exc.strerror or exc}"
            ) from None
        return s

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's whole answer."""
        if "\n" in line or ";" in line:
            raise LbguardError(f"refusing a runtime API command with a separator: {line!r}")
        with self._socket() as s:
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def show_stat(self) -> list[dict[str, str]]:
        text = self.command("show stat")
        if not text.startswith("# "):
            raise LbguardError(f"unexpected answer to 'show stat': {text[:80]!r}")
        return list(csv.DictReader(io.StringIO(text[2:])))

    def pool_state(self, backend: str) -> PoolState:
        rows = [
            r
            for r in self.show_stat()
            if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
        ]
        if not rows:
            raise LbguardError(f"HAProxy has no backend '{backend}' with servers")
        initial = {r["srv_name"]: _int(r.get("srv_iweight")) for r in self.servers_state(backend)}
        servers = tuple(
            ServerState(
                r["svname"],
                r.get("status", ""),
                _int(r.get("weight")),
                initial.get(r["svname"], _int(r.get("weight"))),
                r.get("bck") == "1",
            )
            for r in rows
        )
        return PoolState(backend, servers)

    def servers_state(self, backend: str) -> list[dict[str, str]]:
        """`show servers state`, one dict per server; it alone holds the initial weight."""
        lines = self.command(f"show servers state {backend}").splitlines()
        header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
        if header is None:
            return []
        rows = []
        for line in lines[1:]:  # the first line is the format version
            parts = line.split()
            if len(parts) >= 4 and not line.startswith("#"):
                rows.append(dict(zip(header, parts, strict=False)))
        return rows


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
