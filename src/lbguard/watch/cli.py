"""`lbguard watch`: argument parsing and wiring only; the work lives in the modules next door."""

from __future__ import annotations

import asyncio
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lbguard.errors import EXIT_FINDINGS, EXIT_OK, LbguardError
from lbguard.redact import redact_url
from lbguard.util import is_digits
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

if TYPE_CHECKING:
    from lbguard.watch.collectors.probe import Probing

# Seconds a stopping watch waits for an audit under way (its record is one transaction).
AUDIT_GRACE = 30.0


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
    probing = None
    if settings.probe.enabled:
        probing = _probing(collector, config, source, settings)
        collector = probing
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
    if probing is not None:
        engine.signals.append(probing.conditions)
    return Watch(collector, engine)


def _probing(
    collector: Collector, config: ConfigFile | None, source: SourceSettings, ws: WatchSettings
) -> Probing:
    from lbguard.watch.collectors.probe import Probing, remote_only
    from lbguard.watch.daemon import _stderr

    if config is None:
        raise LbguardError(
            f"--probe needs --lb-config for {collector.source}: the servers to probe come from "
            "the balancer's config"
        )
    if not ws.probe.allow_remote and remote_only(config.config):
        raise LbguardError(
            f"no server of {source.lb_config} is on loopback, and probing others needs "
            "--allow-remote"
        )
    return Probing(
        collector,
        config,
        timeout=ws.probe.timeout,
        allow_remote=ws.probe.allow_remote,
        path=ws.probe.path,
        log=_stderr,
    )


def _remediation_socket(source: SourceSettings) -> str:
    """The stats socket that remediation acts through; a one-line error for any other source."""
    from lbguard.watch.remediation import socket_path

    if source.haproxy_stats is None:
        raise LbguardError(
            "--remediate acts through HAProxy's runtime API; nginx has none (the source is "
            f"the access log {source.nginx_log})"
        )
    path = socket_path(source.haproxy_stats)
    if path is None:
        raise LbguardError(
            f"--remediate needs HAProxy's stats socket (--haproxy-stats unix:PATH); "
            f"{redact_url(source.haproxy_stats)} is a read-only statistics page"
        )
    return path


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


def _with_flags(
    ws: WatchSettings,
    remediate: bool | None,
    apply: bool | None,
    probe: bool | None,
    probe_path: str | None,
    allow_remote: bool | None,
) -> WatchSettings:
    """The `[watch]` settings with the command line's remediation and probe flags on top."""
    r, p = ws.remediate, ws.probe
    if remediate or apply:
        if apply and not (remediate or r.enabled):
            raise LbguardError("--apply sends remediation commands: it needs --remediate")
        r = r.model_copy(update={"enabled": True, "apply": bool(apply) or r.apply})
    if (probe_path or allow_remote) and not (probe or p.enabled):
        raise LbguardError("--probe-path and --allow-remote need --probe")
    if probe or probe_path or allow_remote:
        update: dict[str, object] = {"enabled": True}
        if probe_path:
            update["path"] = probe_path
        if allow_remote:
            update["allow_remote"] = True
        p = p.model_copy(update=update)
    return ws.model_copy(update={"remediate": r, "probe": p})


def _with_audit(ws: WatchSettings, configs: tuple[str, ...], every: str | None) -> WatchSettings:
    """The `[watch.audit]` settings with --audit and --audit-every on top."""
    if every is not None and not (configs or ws.audit.configs):
        raise LbguardError("--audit-every schedules audits: it needs --audit CONFIG")
    if every is not None:
        from lbguard.audit.durations import parse_duration

        parse_duration(every)  # a one-line error naming the value
    update: dict[str, object] = {}
    if configs:
        update["configs"] = configs
    if every is not None:
        update["every"] = every
    return ws.model_copy(update={"audit": ws.audit.model_copy(update=update)})


def _metrics_address(value: str) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not is_digits(port):
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
@click.option(
    "--remediate",
    is_flag=True,
    default=None,
    help="Act on overload and imbalance alerts through the stats socket (dry-run: print).",
)
@click.option("--apply", is_flag=True, default=None, help="With --remediate: send the commands.")
@click.option("--probe", is_flag=True, default=None, help="Probe every server of --lb-config.")
@click.option("--probe-path", help="HTTP path to probe in pools without an HTTP check.")
@click.option(
    "--allow-remote", is_flag=True, default=None, help="Also probe servers not on loopback."
)
@click.option(
    "--audit",
    "audit_configs",
    multiple=True,
    type=click.Path(),
    help="Also audit this config on a schedule, its gauges on /metrics (repeatable).",
)
@click.option("--audit-every", metavar="DURATION", help="Time between audits (default: 1h).")
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
    remediate: bool | None,
    apply: bool | None,
    probe: bool | None,
    probe_path: str | None,
    allow_remote: bool | None,
    audit_configs: tuple[str, ...],
    audit_every: str | None,
) -> None:
    """Watch live balancer statistics against the config's promise, and alert.

    Exit status with --once: 0 no alert, 1 an alert is firing, 2 usage or input error.
    """
    from pydantic import ValidationError

    from lbguard.settings import load_settings

    settings, found = load_settings(settings_path)
    ws = _with_flags(
        watch_settings(settings.watch, found), remediate, apply, probe, probe_path, allow_remote
    )
    ws = _with_audit(ws, audit_configs, audit_every)
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
    sockets = [_remediation_socket(s) for s in sources] if ws.remediate.enabled else []
    if sockets and once:
        raise LbguardError(
            "--remediate needs the daemon: it undoes each action when its alert resolves, "
            "which --once never sees"
        )
    names = [s.name or socket.gethostname() for s in sources]
    if sockets and len(set(names)) < len(names):
        # Each hook acts on the alerts of its balancer's name: two sources sharing one
        # would each act on the other's alerts, on their own balancer.
        raise LbguardError(
            "--remediate needs a distinct 'name' for each [[watch.sources]] entry; "
            f"{', '.join(sorted({n for n in names if names.count(n) > 1}))} is used twice"
        )
    if sockets and ws.remediate.apply:
        from lbguard.watch.remediation import level_problem

        for path in sockets:
            if problem := level_problem(path, ws.timeout):
                raise LbguardError(problem)
    if once and audit_configs:
        raise LbguardError(
            "--audit schedules audits in the watch daemon; for one audit run 'lbguard audit'"
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
    if sockets:
        from lbguard.watch.remediation import remediation

        r = ws.remediate
        for w, path in zip(watches, sockets, strict=True):
            daemon.on_alert.append(
                remediation(
                    w.engine.balancer,
                    path,
                    apply=r.apply,
                    publish=daemon.publish,
                    trail=store,
                    firing=w.engine.book.firing(),
                    echo=daemon.log,
                    max_fraction=r.max_fraction,
                    panic_threshold=r.panic_threshold,
                    weight_percent=r.weight_percent,
                    timeout=ws.timeout,
                )
            )
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
    if sockets:
        mode = "applying" if ws.remediate.apply else "dry-run, printing"
        daemon.log(f"remediation on ({mode} runtime API commands)")
    audits = None
    if ws.audit.configs:
        from lbguard.watch.audits import schedule_audits

        daemon.log(f"auditing {' '.join(ws.audit.configs)} every {ws.audit.every}")
        audits = schedule_audits(ws.audit, settings, store, registry, daemon.log)
    try:
        asyncio.run(daemon.run())
    finally:
        if audits is not None and not audits.close(AUDIT_GRACE):
            daemon.log(f"an audit still running after {AUDIT_GRACE:g} s was abandoned")
        if server is not None:
            server.shutdown()
            server.server_close()
        store.close()
    daemon.log("stopped")
