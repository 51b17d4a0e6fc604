"""A small client for HAProxy's stats socket / runtime API, shared by watch, audit and
remediation (watch's async collector reads `show stat` with its own coroutine).

HAProxy answers one command per connection in non-interactive mode, so every call
opens a fresh connection with a timeout: a stuck or vanished socket becomes one clear
`LbguardError`, never a hang or a traceback. Field positions in `show stat` and `show
servers state` differ between HAProxy versions, so both are parsed by their header
line, never by fixed column numbers.
"""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass

from lbguard.errors import LbguardError
from lbguard.util import is_digits

DEFAULT_TIMEOUT = 5.0
# The biggest answer we accept: `show stat` of 100k servers is ~60 MB.
MAX_ANSWER_BYTES = 256 * 1024 * 1024

# srv_admin_state bits, as in HAProxy's include/haproxy/server-t.h.
ADMIN_FMAINT = 0x01  # forced into maintenance (runtime API, `disable server`)
ADMIN_IMAINT = 0x02  # inherited maintenance from a tracked server
ADMIN_CMAINT = 0x04  # `disabled` in the configuration
ADMIN_FDRAIN = 0x08  # forced into drain (runtime API)
ADMIN_IDRAIN = 0x10  # inherited drain
ADMIN_RMAINT = 0x20  # address resolution failed
ADMIN_HMAINT = 0x40  # FQDN set from the socket


class RuntimeAPIError(LbguardError):
    """The stats socket could not be reached or gave an answer we cannot read."""


@dataclass(frozen=True, slots=True)
class ServerState:
    """One server as HAProxy sees it now (a `show stat` row), as remediation reads it."""

    name: str
    status: str  # UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/3", "no check"...
    weight: int  # effective weight
    initial_weight: int
    backup: bool = False
    agent: bool = False  # has an agent-check, which sets the weight too

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


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the runtime API listens: a unix socket path, or a TCP host and port."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"


def parse_endpoint(spec: str) -> Endpoint:
    """`unix:/run/haproxy/admin.sock`, `/run/haproxy/admin.sock`, `127.0.0.1:9999`, `[::1]:9999`."""
    text = spec.strip()
    if text.startswith("unix:"):
        text = text[5:]
        if not text:
            raise RuntimeAPIError(f"'{spec}': empty socket path after 'unix:'")
        return Endpoint(path=text)
    if text.startswith("/") or text.startswith("."):
        return Endpoint(path=text)
    if text.startswith("tcp:"):
        text = text[4:]
    host, sep, port = text.rpartition(":")
    if not sep or not is_digits(port) or not host:
        raise RuntimeAPIError(
            f"'{spec}': expected unix:PATH or HOST:PORT for the HAProxy stats socket"
        )
    host = host.strip("[]")
    number = int(port)
    if not 0 < number < 65536:
        raise RuntimeAPIError(f"'{spec}': port {number} is out of range")
    return Endpoint(host=host, port=number)


class RuntimeClient:
    """Runs runtime API commands, one connection each, with a timeout on every step."""

    def __init__(self, endpoint: str | Endpoint, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        ep = self.endpoint
        sock: socket.socket | None = None
        try:
            if ep.path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(ep.path)
            else:
                assert ep.host is not None and ep.port is not None
                sock = socket.create_connection((ep.host, ep.port), timeout=self.timeout)
                sock.settimeout(self.timeout)
            return sock
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise RuntimeAPIError(f"{ep}: {_connect_problem(exc, self.timeout)}") from None

    def command(self, command: str) -> str:
        """The full answer to one command, as text."""
        if "\n" in command or ";" in command:
            raise RuntimeAPIError(f"refusing to send a multi-command line: {command!r}")
        with self._connect() as sock:
            try:
                sock.sendall(command.encode() + b"\n")
                chunks: list[bytes] = []
                size = 0
                while True:
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise RuntimeAPIError(f"{self.endpoint}: answer to '{command}' too large")
            except TimeoutError:
                raise RuntimeAPIError(
                    f"{self.endpoint}: '{command}' did not finish within {self.timeout:g} s"
                ) from None
            except OSError as exc:
                raise RuntimeAPIError(
                    f"{self.endpoint}: '{command}' failed ({exc.strerror or exc})"
                ) from None
        text = b"".join(chunks).decode("utf-8", "replace")
        first = text.lstrip().split("\n", 1)[0]
        if first.startswith(("Unknown command", "Permission denied")):
            raise RuntimeAPIError(f"{self.endpoint}: '{command}': {first.strip()}")
        return text

    def show_stat(self) -> list[dict[str, str]]:
        return parse_stat_csv(self.command("show stat"))

    def show_servers_state(self) -> list[dict[str, str]]:
        return parse_servers_state(self.command("show servers state"))

    def show_info(self) -> dict[str, str]:
        return parse_info(self.command("show info"))

    def pool_state(self, backend: str) -> PoolState:
        """`backend`'s servers now: `show stat` for status and effective weight, and
        `show servers state` for the configured weight, which only it holds."""
        rows = [
            r
            for r in self.show_stat()
            if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
        ]
        if not rows:
            raise RuntimeAPIError(f"HAProxy has no backend '{backend}' with servers")
        initial = {
            r["srv_name"]: _int(r.get("srv_iweight"))
            for r in parse_servers_state(self.command(f"show servers state {backend}"))
            if "srv_name" in r
        }
        servers = tuple(
            ServerState(
                r["svname"],
                r.get("status", ""),
                _int(r.get("weight")),
                initial.get(r["svname"], _int(r.get("weight"))),
                r.get("bck") == "1",
                # Empty unless the server has agent-check (HAProxy 2.6 `show stat`).
                bool(r.get("agent_rise") or r.get("agent_status")),
            )
            for r in rows
        )
        return PoolState(backend, servers)


def _int(value: str | None) -> int:
    return int(value) if value and is_digits(value) else 0


def _connect_problem(exc: OSError, timeout: float) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such socket; is HAProxy running?"
    if isinstance(exc, PermissionError):
        return "permission denied on the stats socket"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused; is HAProxy running?"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return f"cannot connect ({exc.strerror or exc})"


def parse_stat_csv(text: str) -> list[dict[str, str]]:
    """`show stat` rows keyed by the header's field names (`# pxname,svname,...`)."""
    body = text.lstrip()
    if not body.startswith("# "):
        raise RuntimeAPIError("'show stat' answer has no '# pxname,...' header line")
    reader = csv.reader(io.StringIO(body[2:]))
    header = [h.strip() for h in next(reader)]
    rows = []
    for record in reader:
        if not record or not any(record):
            continue
        rows.append({name: value for name, value in zip(header, record, strict=False) if name})
    return rows


def parse_servers_state(text: str) -> list[dict[str, str]]:
    """`show servers state` rows keyed by the `# be_id be_name ...` header's names."""
    header: list[str] | None = None
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            header = stripped[1:].split()
            continue
        if header is None:
            continue  # the format version line ("1") comes before the header
        values = stripped.split()
        rows.append(dict(zip(header, values, strict=False)))
    if header is None:
        raise RuntimeAPIError("'show servers state' answer has no '# be_id ...' header line")
    return rows


def parse_info(text: str) -> dict[str, str]:
    """`show info` as a name -> value mapping."""
    info = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            info[name.strip()] = value.strip()
    if "Pid" not in info and "Name" not in info:
        raise RuntimeAPIError("'show info' answer is not HAProxy's process information")
    return info
