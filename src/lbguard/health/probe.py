"""`lbguard probe`: an active check of every server in a config, overload included.

Servers come from the shared model (lbguard's parsers), and each is probed the way
its balancer would check it: a TCP connect; TLS when the server line has `ssl`; an
HTTP request with the config's own `option httpchk` / `http-check send` method, path
and Host, judged by its `http-check expect status`; and, where the server has
`agent-check`, the agent's reply and its `/readyz` (on the agent port + 1). nginx
open source has no active checks, so for nginx this is the active check it lacks.

Safety: only loopback addresses are probed unless the user passes `--allow-remote`;
everything else is reported as skipped, never contacted.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.errors import LbguardError
from lbguard.model import Pool, Server
from lbguard.redact import MASK
from lbguard.util import is_digits

# Latency this many times the baseline (and at least SLOW_MIN_DELTA more) is overload.
SLOW_FACTOR = 3.0
SLOW_MIN_DELTA = 0.020
# Without /readyz, an agent weight at or below this means overloaded.
AGENT_OVERLOADED_PCT = 50
BASELINE_ALPHA = 0.3


@dataclass(frozen=True)
class HttpCheck:
    """The request a pool's health check sends, and the statuses it accepts."""

    method: str = "GET"
    path: str = "/"
    host: str | None = None
    expect: frozenset[int] | None = None  # None: 2xx and 3xx, as HAProxy


def http_check_of(pool: Pool) -> HttpCheck | None:
    """The pool's HTTP check as configured, or None when it checks at layer 4 only."""
    if pool.health.kind != "http" and not any(d.name == "http-check" for d in pool.directives):
        return None
    method, path, host = "OPTIONS", pool.health.path or "/", None
    flag = pool.flags.get("httpchk")
    if flag is not None:
        words = flag.value.split()
        if len(words) >= 2:  # option httpchk <method> <uri> [<version>]
            method = words[0]
    expect: set[int] | None = None
    for d in pool.directives:
        if d.name != "http-check" or not d.args:
            continue
        args = list(d.args)
        if args[0] == "send":
            i = 1
            while i < len(args) - 1:
                key, value = args[i], args[i + 1]
                if key == "meth":
                    method = value
                elif key in ("uri", "uri-lf"):
                    path = value
                elif key == "hdr" and value.lower() == "host" and i + 2 < len(args):
                    host = args[i + 2]
                    i += 1
                i += 2
        elif args[0] == "expect" and len(args) >= 3 and args[1] == "status":
            expect = expect or set()
            for part in args[2].split(","):
                lo, _, hi = part.partition("-")
                if is_digits(lo) and (not hi or is_digits(hi)):
                    expect.update(range(int(lo), int(hi or lo) + 1))
    if method == "OPTIONS" and flag is None:
        method = "GET"
    return HttpCheck(method, path, host, frozenset(expect) if expect else None)


@dataclass
class Check:
    kind: str  # tcp, tls, http, agent, readyz
    ok: bool
    latency: float | None
    detail: str


@dataclass
class ServerResult:
    pool: str
    server: str
    endpoint: str
    status: str  # up, down, overloaded, skipped
    checks: list[Check] = field(default_factory=list)
    latency: float | None = None
    baseline: float | None = None
    signal: str | None = None
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.pool}/{self.server}"

    @property
    def problem(self) -> bool:
        return self.status in ("down", "overloaded")


@dataclass
class ProbeReport:
    servers: list[ServerResult]

    @property
    def problems(self) -> list[ServerResult]:
        return [s for s in self.servers if s.problem]


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is on loopback (127/8 or ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def unix_path(address: str) -> str | None:
    """The socket path of a unix-socket server (nginx `unix:/p`, HAProxy `/p` or `unix@/p`)."""
    for prefix in ("unix:", "unix@"):
        if address.startswith(prefix):
            return address[len(prefix) :]
    return address if address.startswith("/") else None


def masked_path(path: str) -> str:
    """The check path for output, with query values masked: they may hold tokens."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    return (
        base
        + "?"
        + "&".join(
            f"{k}={MASK}" if eq else k for k, eq, _ in (p.partition("=") for p in query.split("&"))
        )
    )


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    path = unix_path(host)
    if path is None:
        return socket.create_connection((host.strip("[]"), port), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def _tls_context(server: Server) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca = server.option("ca-file")
    if ca:
        try:
            ctx.load_verify_locations(ca)
        except (OSError, ssl.SSLError) as exc:
            raise LbguardError(f"server {server.name}: cannot read ca-file {ca}: {exc}") from None
    if server.option("verify") == "none":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif not server.option("sni") and not server.option("verifyhost"):
        ctx.check_hostname = False
    return ctx


def _read_head(sock: socket.socket | ssl.SSLSocket, limit: int = 65536) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _read_all(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _status_of(head: bytes) -> int | None:
    line = head.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None


def parse_agent_reply(line: str) -> dict[str, object]:
    """HAProxy's reading of an agent-check line: weight, health, admin state, description."""
    line = line.split("\n", 1)[0].split("\r", 1)[0]
    text, _, description = line.partition("#")
    out: dict[str, object] = {}
    for word in text.replace(",", " ").replace("\t", " ").split():
        w = word.lower()
        if w.endswith("%") and is_digits(w[:-1]):
            out["weight_pct"] = int(w[:-1])
        elif w in ("up", "down", "stopped", "fail"):
            out["health"] = w
        elif w in ("ready", "drain", "maint"):
            out["admin"] = w
        elif w.startswith("maxconn:") and is_digits(w[8:]):
            out["maxconn"] = int(w[8:])
    if description and "health" in out:
        out["description"] = description.strip()
    return out


def probe_server(
    pool: Pool,
    server: Server,
    *,
    timeout: float,
    allow_remote: bool,
    baseline: float | None,
) -> ServerResult:
    result = ServerResult(pool.name, server.name, server.endpoint, "up", baseline=baseline)
    if server.disabled:
        result.status, result.reason = "skipped", "disabled in the config"
        return result
    if not server.address:
        result.status, result.reason = "down", "the server has no address"
        return result
    port_opt = server.option("port")
    port = int(port_opt) if port_opt and is_digits(port_opt) else server.port
    host = server.option("addr") or server.address
    local_socket = unix_path(host) is not None
    if local_socket:
        port = 0  # a unix socket is on this machine by definition
    elif port is None:
        result.status, result.reason = "skipped", "no port on the server line"
        return result
    if not local_socket and not allow_remote and not is_loopback(host):
        result.status = "skipped"
        result.reason = "not a loopback address; pass --allow-remote to probe it"
        return result
    layer4 = "unix" if local_socket else "tcp"
    use_tls = server.has_option("ssl") or server.has_option("check-ssl")
    http = http_check_of(pool)
    started = time.perf_counter()
    try:
        sock = _connect(host, port, timeout)
    except OSError as exc:
        result.checks.append(Check(layer4, False, None, f"connect failed: {exc.strerror or exc}"))
        where = host if local_socket else f"{host}:{port}"
        result.status, result.reason = "down", f"connect to {where} failed"
        return _agent(result, server, host, timeout, allow_remote)
    stream: socket.socket = sock
    try:
        result.checks.append(Check(layer4, True, time.perf_counter() - started, "connected"))
        if use_tls:
            try:
                sni = server.option("sni") or server.option("verifyhost")
                stream = _tls_context(server).wrap_socket(sock, server_hostname=sni or None)
                result.checks.append(
                    Check("tls", True, time.perf_counter() - started, stream.version() or "TLS")
                )
            except (ssl.SSLError, OSError) as exc:
                result.checks.append(Check("tls", False, None, f"handshake failed: {exc}"))
                result.status, result.reason = "down", "TLS handshake failed"
                return _agent(result, server, host, timeout, allow_remote)
        if http is not None:
            req_host = http.host or host
            stream.sendall(
                f"{http.method} {http.path} HTTP/1.1\r\nHost: {req_host}\r\n"
                "User-Agent: lbguard-probe\r\nConnection: close\r\n\r\n".encode()
            )
            shown = f"{http.method} {masked_path(http.path)}"
            detail = f"{shown}: no response"
            try:
                head = _read_head(stream)
            except OSError as exc:
                head = b""
                detail = f"{shown}: {exc}"
            status = _status_of(head)
            elapsed = time.perf_counter() - started
            ok = status is not None and (
                status in http.expect if http.expect else 200 <= status < 400
            )
            if status is not None:
                detail = f"{shown} -> {status}"
            elif head:
                detail = f"{shown}: not an HTTP response"
            result.checks.append(Check("http", ok, elapsed if status else None, detail))
            if not ok:
                result.status, result.reason = "down", f"health check {detail}"
    finally:
        stream.close()
    result.latency = result.checks[-1].latency
    _judge_latency(result)
    return _agent(result, server, host, timeout, allow_remote)


def _judge_latency(result: ServerResult) -> None:
    if result.status != "up" or result.latency is None or result.baseline is None:
        return
    slow = result.latency > max(result.baseline * SLOW_FACTOR, result.baseline + SLOW_MIN_DELTA)
    if slow:
        result.status, result.signal = "overloaded", "latency"
        result.reason = (
            f"check took {result.latency * 1000:.1f} ms, {result.latency / result.baseline:.1f}x "
            f"its baseline {result.baseline * 1000:.1f} ms"
        )


def _agent(
    result: ServerResult, server: Server, host: str, timeout: float, allow_remote: bool
) -> ServerResult:
    if not server.has_option("agent-check"):
        return result
    agent_port = server.option("agent-port")
    if not agent_port or not is_digits(agent_port):
        result.checks.append(Check("agent", False, None, "agent-check without agent-port"))
        return result
    agent_host = server.option("agent-addr") or host
    if not allow_remote and not is_loopback(agent_host):
        return result
    port = int(agent_port)
    started = time.perf_counter()
    try:
        with _connect(agent_host, port, timeout) as sock:
            line = _read_all(sock).decode("ascii", "replace")
    except OSError as exc:
        result.checks.append(Check("agent", False, None, f"agent unreachable: {exc}"))
        return result
    reply = parse_agent_reply(line)
    result.checks.append(
        Check("agent", True, time.perf_counter() - started, line.strip() or "(empty)")
    )
    if reply.get("health") in ("down", "stopped", "fail"):
        result.status = "down"
        result.reason = f"agent says {reply['health']}: {reply.get('description', '')}".strip()
        result.signal = "agent"
        return result
    readyz = _readyz(agent_host, port + 1, timeout)
    if readyz is not None:
        code, body = readyz
        result.checks.append(
            Check("readyz", code == 200, None, f"/readyz {code} {body.get('state', '')}".strip())
        )
        signals = body.get("signals")
        worst = None
        if isinstance(signals, list) and signals:
            worst = max(signals, key=lambda s: float(s.get("pressure", 0)))
        if body.get("state") == "overloaded" and result.status == "up":
            result.status = "overloaded"
            if worst is not None:
                result.signal, result.reason = str(worst.get("name")), str(worst.get("detail"))
            else:
                result.reason = str(body.get("reason", "overloaded"))
        elif body.get("state") in ("draining", "maint") and result.status == "up":
            result.reason = f"agent: {body.get('state')}"
    weight = reply.get("weight_pct")
    if (
        readyz is None
        and isinstance(weight, int)
        and weight <= AGENT_OVERLOADED_PCT
        and result.status == "up"
    ):
        result.status, result.signal = "overloaded", "agent"
        result.reason = f"agent weight {weight}%"
    return result


def _readyz(host: str, port: int, timeout: float) -> tuple[int, dict[str, object]] | None:
    try:
        with _connect(host, port, timeout) as sock:
            sock.sendall(
                f"GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            data = _read_all(sock)
    except OSError:
        return None
    code = _status_of(data)
    if code is None:
        return None
    try:
        body = json.loads(data.split(b"\r\n\r\n", 1)[1] or b"{}")
    except (ValueError, IndexError):
        return None
    return code, body if isinstance(body, dict) else {}


def probe_config(
    pools: list[Pool],
    *,
    timeout: float = 3.0,
    allow_remote: bool = False,
    baselines: Mapping[str, float] | None = None,
) -> ProbeReport:
    """Probe every server of the pools in parallel; results in config order."""
    baselines = baselines or {}
    jobs = [(p, s) for p in pools for s in p.servers]
    if not jobs:
        raise LbguardError("the config has no servers to probe")
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool_exec:
        futures = [
            pool_exec.submit(
                probe_server,
                p,
                s,
                timeout=timeout,
                allow_remote=allow_remote,
                baseline=baselines.get(f"{p.name}/{s.name}"),
            )
            for p, s in jobs
        ]
        results = [f.result() for f in futures]
    if all(r.status == "skipped" for r in results) and not allow_remote:
        raise LbguardError(
            "no server of this config is on loopback, and probing others needs --allow-remote"
        )
    return ProbeReport(results)


def load_baselines(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LbguardError(f"{path}: not a baseline file ({exc})") from None
    if not isinstance(data, dict):
        raise LbguardError(f"{path}: not a baseline file (expected a JSON object)")
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float) and v > 0}


def save_baselines(path: Path, report: ProbeReport) -> None:
    """Blend this run's latencies into the baselines (EWMA), skipping overloaded servers."""
    from lbguard.atomic import atomic_write_text

    data = load_baselines(path)
    for r in report.servers:
        if r.status != "up" or r.latency is None:
            continue
        old = data.get(r.key)
        data[r.key] = r.latency if old is None else old + BASELINE_ALPHA * (r.latency - old)
    atomic_write_text(path, lambda fh: json.dump(data, fh, indent=2, sort_keys=True))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def render_text(report: ProbeReport) -> str:
    lines: list[str] = []
    current = None
    for r in report.servers:
        if r.pool != current:
            current = r.pool
            lines.append(f"{r.pool}:")
        checks = ", ".join(f"{c.kind} {'ok' if c.ok else 'FAIL'} ({c.detail})" for c in r.checks)
        status = r.status.upper() if r.problem else r.status
        line = f"  {r.server:<16} {r.endpoint:<22} {status:<10} latency {_ms(r.latency)}"
        if r.baseline is not None:
            line += f" (baseline {_ms(r.baseline)})"
        lines.append(line)
        if r.reason:
            lines.append(f"      {('signal ' + r.signal + ': ') if r.signal else ''}{r.reason}")
        if checks:
            lines.append(f"      {checks}")
    counts = _summary(report)
    lines.append(
        f"{counts['servers']} servers: {counts['up']} up, {counts['down']} down, "
        f"{counts['overloaded']} overloaded, {counts['skipped']} skipped"
    )
    return "\n".join(lines) + "\n"


def _summary(report: ProbeReport) -> dict[str, int]:
    out = {"servers": len(report.servers), "up": 0, "down": 0, "overloaded": 0, "skipped": 0}
    for r in report.servers:
        out[r.status] += 1
    return out


def render_json(report: ProbeReport) -> str:
    return json.dumps(
        {
            "version": 1,
            "servers": [
                {
                    "pool": r.pool,
                    "server": r.server,
                    "endpoint": r.endpoint,
                    "status": r.status,
                    "latency_ms": None if r.latency is None else round(r.latency * 1000, 3),
                    "baseline_ms": None if r.baseline is None else round(r.baseline * 1000, 3),
                    "signal": r.signal,
                    "reason": r.reason,
                    "checks": [
                        {
                            "kind": c.kind,
                            "ok": c.ok,
                            "latency_ms": None if c.latency is None else round(c.latency * 1000, 3),
                            "detail": c.detail,
                        }
                        for c in r.checks
                    ],
                }
                for r in report.servers
            ],
            "summary": _summary(report),
        },
        indent=2,
    )
