"""`lbguard watch`: argument parsing and wiring only; the work lives in the modules next door."""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from lbguard.errors import EXIT_FINDINGS, EXIT_OK, LbguardError
from lbguard.watch.collectors import Collector, CollectorError, from_spec
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from lbguard.watch.receivers import Receiver
from lbguard.watch.settings import (
    ReceiverSettings,
    SourceSettings,
    WatchSettings,
    watch_settings,
)
from lbguard.watch.thresholds import KINDS


def _watch(source: SourceSettings, settings: WatchSettings, *, once: bool) -> Watch:
    config = ConfigFile(source.lb_config) if source.lb_config else None
    collector: Collector
    if source.nginx_log is not None:
        assert config is not None
        from lbguard.watch.collectors.nginx_log import NginxLog

        collector = NginxLog(source.nginx_log, config)
    else:
        assert source.haproxy_stats is not None
        try:
            collector = from_spec(source.haproxy_stats, timeout=settings.timeout)
        except ValueError as exc:
            raise LbguardError(str(exc)) from None
    hold = dict.fromkeys(KINDS, 1) if once else settings.hold
    engine = Engine(
        source.name or socket.gethostname(),
        collector.source,
        config=config,
        thresholds=settings.detection(),
        hold=hold,
        resolve_after=settings.resolve_after,
        drift=source.nginx_log is None,
    )
    return Watch(collector, engine)


def _receiver(spec: ReceiverSettings) -> Receiver:
    from lbguard.watch import receivers

    try:
        if spec.type == "webhook":
            assert spec.url is not None
            return receivers.WebhookReceiver(spec.url, name=spec.name)
        if spec.type == "alertmanager":
            assert spec.url is not None
            return receivers.AlertmanagerReceiver(spec.url, name=spec.name)
        if spec.type == "apprise":
            urls = list(spec.urls) or [spec.url or ""]
            return receivers.AppriseReceiver(urls, name=spec.name)
        return receivers.LogReceiver(name=spec.name or "log")
    except ValueError as exc:
        raise LbguardError(str(exc)) from None


async def _once(watches: list[Watch], interval: float) -> list[Watch]:
    async def poll(w: Watch) -> None:
        try:
            snapshot = await w.collector.collect()
        except CollectorError as exc:
            raise LbguardError(f"cannot read {w.collector.source}: {exc}") from None
        w.engine.observe(snapshot, datetime.now(UTC))

    try:
        await asyncio.gather(*(poll(w) for w in watches))
        await asyncio.sleep(interval)
        await asyncio.gather(*(poll(w) for w in watches))
    finally:
        for w in watches:
            await w.collector.close()
    return watches


def _metrics_address(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise LbguardError(f"--metrics wants HOST:PORT (like 127.0.0.1:9917), not '{value}'")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command("watch")
@click.option(
    "--config",
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path),
    help="lbguard.toml with a [watch] table (default: found upward from here).",
)
@click.option(
    "--haproxy-stats",
    metavar="SOURCE",
    help="unix:PATH (stats socket), http://HOST:PORT/PATH (stats page) or "
    "prometheus+http://HOST:PORT/metrics.",
)
@click.option("--nginx-log", type=click.Path(), help="nginx access log with $upstream_addr.")
@click.option("--lb-config", type=click.Path(), help="The balancer's config: the promised weights.")
@click.option("--name", help="Balancer name in alerts (default: this host's name).")
@click.option("--once", is_flag=True, help="Two polls --interval apart, a table, exit 1 on alert.")
@click.option("--interval", type=click.FloatRange(min=0.05), help="Seconds between polls.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--metrics", "metrics", help="HOST:PORT for /metrics ('' for none).")
@click.option("--store", "store_url", help="Store URL or SQLite path for the trail and outbox.")
@click.option("--webhook", multiple=True, help="POST alerts as JSON to this URL (repeatable).")
@click.option("--alertmanager", multiple=True, help="Alertmanager base URL (repeatable).")
@click.option("--apprise", multiple=True, help="apprise URL: slack://, mailto://... (repeatable).")
def watch_command(
    settings_path: Path | None,
    haproxy_stats: str | None,
    nginx_log: str | None,
    lb_config: str | None,
    name: str | None,
    once: bool,
    interval: float | None,
    fmt: str,
    metrics: str | None,
    store_url: str | None,
    webhook: tuple[str, ...],
    alertmanager: tuple[str, ...],
    apprise: tuple[str, ...],
) -> None:
    """Watch live balancer statistics against the config's promise, and alert.

    Exit status with --once: 0 no alert, 1 an alert is firing, 2 usage or input error.
    """
    from pydantic import ValidationError

    from lbguard.settings import load_settings

    settings, found = load_settings(settings_path)
    ws = watch_settings(settings.watch, found)
    sources = list(ws.sources)
    if haproxy_stats or nginx_log:
        try:
            sources = [
                SourceSettings.model_validate(
                    {
                        "name": name,
                        "haproxy-stats": haproxy_stats,
                        "nginx-log": nginx_log,
                        "lb-config": lb_config,
                    }
                )
            ]
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise LbguardError(msg.replace("'haproxy-stats'", "--haproxy-stats")) from None
    elif lb_config:
        raise LbguardError("--lb-config needs --haproxy-stats or --nginx-log")
    if not sources:
        raise LbguardError(
            "nothing to watch: pass --haproxy-stats or --nginx-log, or add [[watch.sources]] "
            "to lbguard.toml"
        )
    watches = [_watch(s, ws, once=once) for s in sources]
    every = interval if interval is not None else ws.interval
    if once:
        asyncio.run(_once(watches, every))
        engines = [w.engine for w in watches]
        alerts = [a for e in engines for a in e.book.firing()]
        from lbguard.watch.render import write_json, write_table

        if fmt == "json":
            write_json(sys.stdout, engines, alerts)
        else:
            write_table(sys.stdout, engines, alerts, every)
        sys.exit(EXIT_FINDINGS if alerts else EXIT_OK)

    specs = list(ws.receivers)
    specs += [ReceiverSettings(type="webhook", url=u) for u in webhook]
    specs += [ReceiverSettings(type="alertmanager", url=u) for u in alertmanager]
    specs += [ReceiverSettings(type="apprise", urls=(u,)) for u in apprise]
    receivers = [_receiver(s) for s in specs]
    from prometheus_client import CollectorRegistry

    from lbguard.store import open_store

    store = open_store(store_url, settings_value=settings.store)
    registry = CollectorRegistry()
    address = _metrics_address(metrics if metrics is not None else ws.metrics)
    daemon = Daemon(watches, every, store, receivers, registry)
    server = None
    if address is not None:
        from lbguard.watch.metrics import serve_metrics

        try:
            server = serve_metrics(registry, *address)
        except OSError as exc:
            raise LbguardError(
                f"cannot serve /metrics on {address[0]}:{address[1]}: {exc.strerror}"
            ) from None
        daemon.log(f"metrics on http://{address[0]}:{server.server_port}/metrics")
    daemon.log(
        f"watching {', '.join(w.collector.source for w in watches)} every {every:g} s; "
        f"{len(receivers)} receiver(s); store {store.display_url}"
    )
    try:
        asyncio.run(daemon.run())
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        store.close()
    daemon.log("stopped")
