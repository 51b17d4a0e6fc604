"""`lbguard agent` and `lbguard probe`: argument parsing only; the work is in the modules."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lbguard.errors import EXIT_FINDINGS, EXIT_OK, LbguardError

if TYPE_CHECKING:
    from lbguard.health.agent import Agent


@click.command("agent")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5555,
    show_default=True,
    help="HAProxy agent-check port (the server line's agent-port).",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port for /healthz and /readyz (default: --port + 1).",
)
@click.option("--capacity", type=click.IntRange(1), help="Requests the server can handle at once.")
@click.option("--maxconn", type=click.IntRange(1), help="Also tell HAProxy maxconn:N.")
@click.option(
    "--listen-port",
    type=click.IntRange(1, 65535),
    help="The app's own port: its accept queue in /proc/net/tcp is a signal.",
)
@click.option(
    "--listen-backlog",
    type=click.IntRange(1),
    default=128,
    show_default=True,
    help="The app's listen() backlog (the accept queue's limit).",
)
@click.option("--pid", type=click.IntRange(1), help="The app's process, for open descriptors.")
@click.option(
    "--status-url",
    help="Poll this status page: nginx stub_status, Apache server-status?auto, or Prometheus.",
)
@click.option("--metric", help="Prometheus gauge of requests in flight (with --status-url).")
@click.option(
    "--drain-file",
    type=click.Path(path_type=Path),
    help="While this file exists the agent says drain (for deploys and maintenance).",
)
@click.option("--no-host-signals", is_flag=True, help="Ignore CPU, PSI and descriptors.")
@click.option(
    "--print-haproxy-snippet",
    "snippet_config",
    type=click.Path(),
    help="Print the server lines with agent-check for --backend of this HAProxy config, then exit.",
)
@click.option("--backend", help="With --print-haproxy-snippet: the backend to print.")
@click.option("--inter", default="2s", show_default=True, help="agent-inter in the snippet.")
def agent_command(
    host: str,
    port: int,
    http_port: int | None,
    capacity: int | None,
    maxconn: int | None,
    listen_port: int | None,
    listen_backlog: int,
    pid: int | None,
    status_url: str | None,
    metric: str | None,
    drain_file: Path | None,
    no_host_signals: bool,
    snippet_config: str | None,
    backend: str | None,
    inter: str,
) -> None:
    """Tell the balancer how loaded this server is: HAProxy agent-check, /healthz, /readyz.

    Runs until SIGTERM or Ctrl-C. Exit status: 0 after a clean stop, 2 usage error.
    """
    if snippet_config is not None:
        _print_snippet(snippet_config, backend, port, inter)
        return
    if backend is not None:
        raise LbguardError("--backend only goes with --print-haproxy-snippet")
    from lbguard.health.agent import Agent
    from lbguard.health.overload import HostSignals, OverloadMonitor
    from lbguard.health.status import StatusPoller

    signals = HostSignals(
        listen_port=listen_port,
        listen_backlog=listen_backlog,
        cpu=not no_host_signals,
        psi=not no_host_signals,
        fds=not no_host_signals and pid is not None,
        fd_pid=pid,
    )
    monitor = OverloadMonitor(capacity=capacity, host=signals, maxconn=maxconn)
    poller = StatusPoller(monitor, status_url, metric=metric) if status_url else None

    async def poll() -> None:
        if drain_file is not None:
            monitor.draining = drain_file.exists()
        if poller is not None:
            await poller()

    agent = Agent(monitor, host=host, agent_port=port, http_port=http_port, poll=poll)
    try:
        asyncio.run(_serve(agent))
    except OSError as exc:
        raise LbguardError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


async def _serve(agent: Agent) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with agent:
            click.echo(
                f"lbguard agent: agent-check on {agent.host}:{agent.agent_port}, "
                f"/healthz and /readyz on {agent.host}:{agent.http_port}",
                err=True,
            )
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


def _print_snippet(path: str, backend: str | None, port: int, inter: str) -> None:
    from lbguard.health.config import find_pool, load_config
    from lbguard.health.snippet import haproxy_snippet
    from lbguard.model import Dialect

    if backend is None:
        raise LbguardError("--print-haproxy-snippet needs --backend NAME")
    config = load_config(path)
    if config.dialect is not Dialect.HAPROXY:
        raise LbguardError(f"{path}: agent-check is an HAProxy feature; this is an nginx config")
    pool = find_pool(config, backend)
    if not pool.servers:
        raise LbguardError(f"backend '{backend}' has no server lines")
    click.echo(haproxy_snippet(pool, port, inter), nl=False)


@click.command("probe")
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--pool", "pools", multiple=True, help="Only these backends/upstreams.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Also probe servers that are not on loopback (off by default, for safety).",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    help="JSON file of per-server latency baselines; read, then updated atomically.",
)
@click.option("--dialect", type=click.Choice(["haproxy", "nginx"]), help="Override detection.")
def probe_command(
    config_path: str,
    pools: tuple[str, ...],
    fmt: str,
    timeout: float,
    allow_remote: bool,
    baseline: Path | None,
    dialect: str | None,
) -> None:
    """Probe every server of a config: up or down, latency against baseline, overload.

    Exit status: 0 all servers up and not overloaded, 1 a problem, 2 usage or input error.
    """
    from lbguard.health.config import find_pool, load_config
    from lbguard.health.probe import (
        load_baselines,
        probe_config,
        render_json,
        render_text,
        save_baselines,
    )
    from lbguard.model import Dialect

    config = load_config(config_path, Dialect(dialect) if dialect else None)
    selected = [find_pool(config, name) for name in pools] if pools else list(config.pools)
    baselines = load_baselines(baseline) if baseline else {}
    report = probe_config(selected, timeout=timeout, allow_remote=allow_remote, baselines=baselines)
    if baseline is not None:
        save_baselines(baseline, report)
    if fmt == "json":
        click.echo(render_json(report))
    else:
        click.echo(render_text(report), nl=False)
    sys.exit(EXIT_FINDINGS if report.problems else EXIT_OK)
