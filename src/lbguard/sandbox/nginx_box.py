"""The nginx side of the sandbox: one config file, rewritten line for line.

`listen` moves to a free 127.0.0.1 port, every upstream `server` to its own stub,
logs and the pid file into the sandbox, and TLS material is commented out. The
rest (balancing method, hash keys, weights, backup, down, worker_processes) is
kept, and the simulator reads the rewritten file, because nginx's consistent hash
keys on the server string as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbguard.sandbox.haproxy_box import free_port

_DROP = re.compile(
    r"^\s*(access_log|error_log|pid|ssl_\w+|include|user|load_module|lock_file|resolver|"
    r"auth_basic_user_file|proxy_ssl_\w+)\b"
)
_LISTEN = re.compile(r"\blisten\s+[^;]+;")
_UPSTREAM_SERVER = re.compile(r"^(\s*)server\s+(\S+)(\s[^;]*)?;")


@dataclass
class NginxSandbox:
    text: str
    port: int
    stub_ports: dict[tuple[str, str], int]  # (upstream, server address as rewritten) -> port


def build_nginx_sandbox(lines: list[str], sandbox_dir: str) -> NginxSandbox:
    out = list(lines)
    port = free_port()
    stubs: dict[tuple[str, str], int] = {}
    upstream: str | None = None
    depth_at_upstream = 0
    depth = 0
    listened = False
    for i, raw in enumerate(lines):
        code = raw.split("#", 1)[0]
        m_up = re.match(r"^\s*upstream\s+(\S+)\s*\{", code)
        if m_up:
            upstream = m_up.group(1)
            depth_at_upstream = depth
        if _DROP.match(code):
            out[i] = "# lbguard sandbox: " + raw
        elif upstream is not None and _UPSTREAM_SERVER.match(code):
            m = _UPSTREAM_SERVER.match(code)
            assert m is not None
            stub = free_port()
            address = f"127.0.0.1:{stub}"
            stubs[(upstream, address)] = stub
            params = (m.group(3) or "").replace("resolve", "")
            out[i] = f"{m.group(1)}server {address}{params};"
        elif upstream is None and _LISTEN.search(code):
            # Only the first listener is kept: verify sends all its traffic there.
            replacement = "" if listened else f"listen 127.0.0.1:{port};"
            out[i] = _LISTEN.sub(replacement, code, count=1)
            listened = True
        depth += code.count("{") - code.count("}")
        if upstream is not None and depth <= depth_at_upstream:
            upstream = None
    out.append(f"pid {sandbox_dir}/nginx.pid;")
    out.append(f"error_log {sandbox_dir}/error.log;")
    return NginxSandbox("\n".join(out) + "\n", port, stubs)
