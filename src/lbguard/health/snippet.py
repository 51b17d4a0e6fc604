"""`lbguard agent --print-haproxy-snippet`: a backend's server lines with agent-check added."""

from __future__ import annotations

from lbguard.model import Pool, Server

# Options the snippet sets itself; any existing value is replaced, not doubled.
_AGENT_OPTIONS = frozenset({"agent-check", "agent-port", "agent-inter", "agent-addr", "agent-send"})


def server_line(server: Server, agent_port: int, inter: str = "2s") -> str:
    """The server line as written, minus old agent options, plus lbguard's agent-check."""
    words = ["server", server.name, server.endpoint or server.address_text or "''"]
    for key, value in server.options:
        if key in _AGENT_OPTIONS:
            continue
        words.append(key if value is None else f"{key} {value}")
    if not server.has_option("check"):
        # HAProxy ignores an agent's `down` unless the server is health-checked.
        words.append("check")
    words.extend(["agent-check", "agent-port", str(agent_port), "agent-inter", inter])
    return " ".join(words)


def haproxy_snippet(pool: Pool, agent_port: int, inter: str = "2s") -> str:
    """Lines to paste into `backend <pool>`; one per server, in config order."""
    lines = [
        f"# backend {pool.name}: replaces its server lines (default-server options spelled "
        f"out); run 'lbguard agent --port {agent_port}' on every server"
    ]
    lines.extend(f"    {server_line(s, agent_port, inter)}" for s in pool.servers)
    return "\n".join(lines) + "\n"
