"""Running a user's HAProxy config, unchanged where it shapes traffic, on loopback only.

The config is copied line for line, with a line map (so a failure points at the
user's own line): listeners move to free 127.0.0.1 ports, every server address to
its own stub backend, and whatever would touch the outside (logging, resolvers,
peers, certificates, chroot, users) is commented out. Names, weights, flags, balance
settings, hash keys, persistence, health checks and maxconn are kept; HTTP backends
get `http-reuse always`, which changes no choice (see `build_sandbox`). A frontend
keeps one bind, its TLS one if it has one, served with a certificate made for the
sandbox.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.errors import LbguardError
from lbguard.model import Config, Pool
from lbguard.parsers.haproxy import looks_like_option_not_address

# Sections that reach outside the machine or need files that the sandbox lacks.
_DROP_SECTIONS = {"resolvers", "peers", "mailers", "ring", "program", "log-forward", "userlist"}
# Proxy keywords that reach outside or need local files.
_DROP_PROXY = {
    "log",
    "errorfile",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "email-alert",
    "external-check",
    "stats",
    "monitor-uri",
    "capture",
    "server-template",
}
# Server options that need certificates, DNS or another host.
_DROP_SERVER_OPTS = {
    "ssl": 0,
    "crt": 1,
    "ca-file": 1,
    "crl-file": 1,
    "verify": 1,
    "verifyhost": 1,
    "sni": 1,
    "check-ssl": 0,
    "check-sni": 1,
    "resolvers": 1,
    "resolve-prefer": 1,
    "resolve-net": 1,
    "init-addr": 1,
    "addr": 1,
    "port": 1,
    "agent-check": 0,
    "agent-port": 1,
    "agent-addr": 1,
    "source": 1,
    "namespace": 1,
    "send-proxy": 0,
    "send-proxy-v2": 0,
    "alpn": 1,
    "npn": 1,
    "proto": 1,
    "check-proto": 1,
    "check-alpn": 1,
    "ciphers": 1,
    "ciphersuites": 1,
    "socks4": 1,
    "no-ssl": 0,
}


def self_signed(folder: str) -> str:
    """A throwaway certificate and key (one PEM file) for the sandbox's TLS listeners."""
    pem = os.path.join(folder, "lbguard-sandbox.pem")
    if os.path.exists(pem):
        return pem
    exe = shutil.which("openssl")
    if exe is None:
        raise LbguardError("verify needs openssl to make a certificate for a TLS bind")
    key, cert = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
    argv = [exe, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    argv += ["-nodes", "-subj", "/CN=lbguard.sandbox", "-days", "2"]
    made = subprocess.run(
        [*argv, "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=30
    )
    if made.returncode != 0:
        raise LbguardError(f"openssl could not make a sandbox certificate: {made.stderr.strip()}")
    with open(pem, "w", encoding="ascii") as out:
        out.write(Path(cert).read_text() + Path(key).read_text())
    return pem


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sandbox:
    text: str
    frontend_ports: dict[str, int]  # frontend/listen name -> port
    stub_ports: dict[tuple[str, str], int]  # (pool, server) -> port
    stats_port: int  # the admin socket, on loopback TCP
    notes: list[str] = field(default_factory=list)
    # The user's line for each line of `text` (1-based; 0 for lines lbguard added).
    origin: list[int] = field(default_factory=list)
    tls_ports: set[int] = field(default_factory=set)  # listeners that speak TLS
    # Backends only use_backend rules reach -> the port of a frontend of their own.
    direct_ports: dict[str, int] = field(default_factory=dict)

    def original(
        self, message: str, staged: str, user: str, where: list[tuple[str, int]] | None = None
    ) -> str:
        """A message about the staged file `staged`, pointing at the user's file; `where`
        maps the lines of several files staged as one back to each file and line."""

        def back(m: re.Match[str]) -> str:
            n = int(m.group(1))
            line = self.origin[n - 1] if 0 < n <= len(self.origin) else 0
            if where is not None and 0 < line <= len(where):
                file, line = where[line - 1]
                return f"{file}:{line}"
            return f"{user}:{line}" if line else f"{user}"

        return re.sub(re.escape(staged) + r":(\d+)", back, message).replace(staged, user)


def _strip_server_options(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _DROP_SERVER_OPTS:
            i += 1 + _DROP_SERVER_OPTS[w]
            continue
        out.append(w)
        i += 1
    return out


def build_sandbox(config: Config, lines: list[str], sandbox_dir: str) -> Sandbox:
    """The sandboxed text of a single-file HAProxy config, mapped line by line."""
    out = list(lines)
    fe_ports: dict[str, int] = {}
    stub_ports: dict[tuple[str, str], int] = {}
    notes: list[str] = []
    section_of_line: dict[int, str] = {}
    for section in config.sections:
        end = section.end_line or section.location.line
        for n in range(section.location.line, end + 1):
            section_of_line[n] = section.kind
    # The one bind each frontend keeps: its first TLS bind if it has one (that is
    # where the real traffic goes when plain HTTP is redirected), else its first.
    kept_bind: dict[int, bool] = {}  # line -> TLS
    for fe in config.frontends:
        secure = [b for b in fe.binds if "ssl" in b.options]
        for b in (secure or list(fe.binds))[:1]:
            kept_bind[b.location.line] = bool(secure)
    tls_ports: set[int] = set()
    server_line: dict[int, tuple[Pool, str]] = {}
    for pool in config.pools:
        for server in pool.servers:
            server_line[server.location.line] = (pool, server.name)
    current = ""
    current_name = ""
    for idx, raw in enumerate(lines):
        lineno = idx + 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = stripped.split()
        head = words[0]
        indent = raw[: len(raw) - len(raw.lstrip())]
        if not raw[:1].isspace() and head in {
            "global",
            "defaults",
            "frontend",
            "backend",
            "listen",
            *_DROP_SECTIONS,
            "cache",
            "http-errors",
        }:
            current = head
            current_name = words[1] if len(words) > 1 else ""
            if head in _DROP_SECTIONS or head == "global" or head == "http-errors":
                out[idx] = "# lbguard sandbox: " + raw
            continue
        if current in _DROP_SECTIONS or current in ("global", "http-errors"):
            out[idx] = "# lbguard sandbox: " + raw
            continue
        if head == "bind" and current in ("frontend", "listen"):
            keep = lineno in kept_bind if kept_bind else current_name not in fe_ports
            if not keep or current_name in fe_ports:
                out[idx] = "# lbguard sandbox: " + raw
                continue
            port = fe_ports[current_name] = free_port()
            # The PROXY protocol changes what `src` is; keep it so the test is faithful.
            proxy = " accept-proxy" if "accept-proxy" in words else ""
            tls = ""
            if kept_bind.get(lineno):
                # TLS with a certificate made for the sandbox: rules on ssl_fc, sni or
                # the scheme see what they see in production.
                tls = f" ssl crt {self_signed(sandbox_dir)} alpn http/1.1"
                tls_ports.add(port)
            out[idx] = f"{indent}bind 127.0.0.1:{port}{tls}{proxy}"
            continue
        if head in _DROP_PROXY or (head == "http-request" and "lua" in stripped):
            out[idx] = "# lbguard sandbox: " + raw
            continue
        if head == "default-server":
            out[idx] = indent + " ".join(["default-server", *_strip_server_options(words[1:])])
            continue
        if head == "server" and lineno in server_line:
            pool, name = server_line[lineno]
            port = free_port()
            stub_ports[(pool.name, name)] = port
            has_address = len(words) > 2 and not looks_like_option_not_address(words[2])
            rest = words[3:] if has_address else words[2:]
            out[idx] = indent + " ".join(
                ["server", name, f"127.0.0.1:{port}", *_strip_server_options(rest)]
            )
            continue
        if head in ("server", "dispatch", "source"):
            # A server line the model does not know, a dispatch address, an outgoing
            # source address: each could reach past loopback, so each goes.
            out[idx] = "# lbguard sandbox: " + raw
            notes.append(f"line {lineno}: '{head}' is left out of the sandbox")
            continue
        if head in ("tcp-check", "http-check") and words[1:2] == ["connect"]:
            # Checks go to the server's own stub, never to another address or port.
            out[idx] = indent + " ".join([head, "connect", *_strip_server_options(words[2:])])
            continue
    # On loopback TCP rather than a Unix socket in the sandbox: a long TMPDIR (macOS,
    # pytest) makes a socket path longer than the 108 bytes that Unix sockets allow.
    stats_port = free_port()
    # HTTP backends reuse idle stub connections across clients: HAProxy picks the
    # server first and only then looks for an idle connection to it, so no choice
    # changes, and the stubs stop taking a new connection for most requests. A
    # http-reuse of the backend's own, written after its header, still wins.
    reuse = {p.location.line for p in config.pools if p.mode == "http"}
    final: list[str] = []
    origin: list[int] = []
    for n, line in enumerate(out, start=1):
        final.append(line)
        origin.append(n)
        if n in reuse:
            final.append("    http-reuse always")
            origin.append(n)
    # A backend that no frontend sends to by default (only use_backend rules do) gets
    # a frontend of the sandbox's own, so the whole trace reaches it, as in the model.
    defaulted = {r.pool for fe in config.frontends for r in fe.routes if r.default}
    direct_ports: dict[str, int] = {}
    for pool in config.pools:
        if pool.kind == "backend" and pool.name not in defaulted and pool.servers:
            port = direct_ports[pool.name] = free_port()
            final += [
                "",
                f"frontend lbguard-direct-{pool.name}",
                f"    mode {pool.mode}",
                f"    bind 127.0.0.1:{port}",
                f"    default_backend {pool.name}",
            ]
            origin += [0] * 5
    final += [
        "",
        "global",
        f"    stats socket ipv4@127.0.0.1:{stats_port} level admin",
        "    maxconn 4000",
        "    nbthread 1",
        "",
    ]
    origin += [0] * 6
    return Sandbox(
        "\n".join(final) + "\n",
        fe_ports,
        stub_ports,
        stats_port,
        notes,
        origin,
        tls_ports,
        direct_ports,
    )
