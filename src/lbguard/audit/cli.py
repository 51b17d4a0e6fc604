"""`lbguard baseline`, `audit`, `trail`, `timeline` and `postmortem`: wiring only."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from lbguard.errors import EXIT_FINDINGS, EXIT_OK, LbguardError
from lbguard.findings import Severity
from lbguard.model import Dialect
from lbguard.rule_settings import CommandSettings
from lbguard.store import Store

if TYPE_CHECKING:
    from lbguard.audit.metrics import AuditMetrics

_store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Store URL (sqlite:///PATH, postgresql+psycopg://...) or SQLite path; "
    "default: $LBGUARD_STORE, then `store` in lbguard.toml, then ~/.local/state/lbguard.",
)
_settings_option = click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path),
    help="lbguard.toml to use instead of searching upward from the current directory.",
)
_dialect_option = click.option(
    "--dialect", type=click.Choice([d.value for d in Dialect]), help="Override detection."
)


def _open(store_url: str | None, settings_path: Path | None) -> tuple[CommandSettings, Store]:
    from lbguard.rule_settings import load_command_settings
    from lbguard.store import open_store

    settings = load_command_settings(settings_path)
    return settings, open_store(store_url, settings_value=settings.store)


def _emit(write: Callable[[TextIO], None], output: Path | None) -> None:
    if output is None:
        write(sys.stdout)
        return
    from lbguard.atomic import atomic_write_text

    atomic_write_text(output, write)


# ------------------------------------------------------------------------ baseline


@click.group("baseline")
def baseline_command() -> None:
    """Approve a config's state, and read approved baselines back."""


@baseline_command.command("approve")
@click.argument("configs", nargs=-1, required=True, type=click.Path())
@click.option("--note", help="Why this state is approved (a ticket, a release).")
@click.option("--no-native", is_flag=True, help="Do not run haproxy -c / nginx -t.")
@_dialect_option
@_store_option
@_settings_option
def approve_command(
    configs: tuple[str, ...],
    note: str | None,
    no_native: bool,
    dialect: str | None,
    store_url: str | None,
    settings_path: Path | None,
) -> None:
    """Record CONFIG...'s normalised model, findings, predicted shares and file hashes."""
    from lbguard.audit.baselines import approve, summary
    from lbguard.audit.run import approved_state, read_states

    settings, store = _open(store_url, settings_path)
    with store:
        states = read_states(
            configs, settings, native=not no_native, dialect=Dialect(dialect) if dialect else None
        )
        if not states:
            raise LbguardError("nothing to approve: no balancer config among the given paths")
        state = approved_state(states, settings)
        info = approve(store, state, note)
    counts = summary(state)
    click.echo(
        f"approved baseline #{info.id} for {', '.join(info.configs)}: {counts['pools']} pools, "
        f"{counts['servers']} servers, {counts['findings']} findings, "
        f"{len(counts['files'])} files, {len(counts['critical'])} critical files "
        f"(trail record #{info.trail_seq})"
    )


@baseline_command.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_store_option
@_settings_option
def list_command(fmt: str, store_url: str | None, settings_path: Path | None) -> None:
    """Every approved baseline, oldest first."""
    from lbguard.audit.baselines import list_baselines

    _, store = _open(store_url, settings_path)
    with store:
        items = list_baselines(store)
    if fmt == "json":
        rows = [
            {
                "id": b.id,
                "at": b.at.isoformat(),
                "configs": b.configs,
                "note": b.note,
                "state_sha256": b.state_sha256,
                "trail_seq": b.trail_seq,
            }
            for b in items
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not items:
        click.echo("no baselines yet; approve one with 'lbguard baseline approve CONFIG'")
    for b in items:
        note = f"  {b.note}" if b.note else ""
        click.echo(f"#{b.id:<4} {b.at:%Y-%m-%d %H:%M:%S} UTC  {' '.join(b.configs)}{note}")


@baseline_command.command("show")
@click.argument("baseline_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_store_option
@_settings_option
def show_command(
    baseline_id: int, fmt: str, store_url: str | None, settings_path: Path | None
) -> None:
    """One baseline: its pools, servers, predicted shares, findings and file hashes."""
    from lbguard.audit.baselines import load
    from lbguard.audit.normalise import unpack

    _, store = _open(store_url, settings_path)
    with store:
        baseline = load(store, baseline_id)
    info = baseline.info
    state = unpack(baseline.state)
    if fmt == "json":
        doc = {
            "id": info.id,
            "at": info.at.isoformat(),
            "note": info.note,
            "state_sha256": info.state_sha256,
            "trail_seq": info.trail_seq,
            "state": state,
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    click.echo(f"baseline #{info.id}, approved {info.at:%Y-%m-%d %H:%M:%S} UTC")
    if info.note:
        click.echo(f"note: {info.note}")
    click.echo(f"state sha256: {info.state_sha256} (trail record #{info.trail_seq})")
    for key, cfg in state.get("configs", {}).items():
        click.echo(f"\n{key} ({cfg['dialect']})")
        for path, digest in cfg["files"].items():
            click.echo(f"  file {path}  sha256 {digest}")
        for name, pool in cfg["pools"].items():
            b = pool["balance"]
            key_text = f" key {b['key']}" if b.get("key") else ""
            click.echo(f"  {pool['kind']} {name}: {b['algorithm']}{key_text}")
            for s in pool["servers"]:
                flags = [f for f in ("backup", "disabled", "drain") if s.get(f)]
                share = pool["predicted"].get(s["name"], 0.0)
                click.echo(
                    f"    {s['name']:<20} {s['address']:<24} weight {s['weight']:<4} "
                    f"{','.join(flags) or 'active':<16} predicted {share:6.1%}"
                )
        for f in cfg["findings"]:
            click.echo(f"  finding {f['severity']} {f['code']} {f['message']}")
    for path, digest in state.get("critical", {}).items():
        click.echo(f"critical file {path}  sha256 {digest}")


# --------------------------------------------------------------------------- audit


@click.command("audit")
@click.argument("configs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--post-deploy",
    is_flag=True,
    help="CD mode: fail (exit 1) on any unapproved drift or any new error.",
)
@click.option(
    "--haproxy-stats",
    metavar="SOCKET",
    help="HAProxy runtime API: unix:/run/haproxy/admin.sock or HOST:PORT.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]), default="text"
)
@click.option("--record", is_flag=True, help="Append the result to the trail.")
@click.option("--baseline", "baseline_id", type=int, help="Audit against this baseline ID.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default=None,
    help="Lowest severity that makes the exit code 1 (default: warning).",
)
@click.option("--every", metavar="DURATION", help="Run as a daemon: audit every 1h, 30m...")
@click.option(
    "--metrics",
    "metrics_at",
    metavar="HOST:PORT",
    help="With --every: serve the last audit's results on http://HOST:PORT/metrics.",
)
@click.option("--no-native", is_flag=True, help="Do not run haproxy -c / nginx -t.")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write the report here.")
@_dialect_option
@_store_option
@_settings_option
def audit_command(
    configs: tuple[str, ...],
    post_deploy: bool,
    haproxy_stats: str | None,
    fmt: str,
    record: bool,
    baseline_id: int | None,
    fail_on: str | None,
    every: str | None,
    metrics_at: str | None,
    no_native: bool,
    output: Path | None,
    dialect: str | None,
    store_url: str | None,
    settings_path: Path | None,
) -> None:
    """Audit CONFIG... against its approved baseline, the running process and lbguard.toml's
    critical files.

    Exit status: 0 clean, 1 findings at or above --fail-on (with --post-deploy: any drift
    or any error), 2 usage or input error.
    """
    from lbguard.audit.daemon import AuditCycle
    from lbguard.audit.render import RENDERERS

    if metrics_at and every is None:
        raise LbguardError("--metrics serves a daemon's results: use it with --every")
    settings, store = _open(store_url, settings_path)
    threshold = Severity.parse(fail_on) if fail_on else settings.severity_threshold()
    cycle = AuditCycle(
        configs,
        settings,
        store,
        threshold,
        record=record or every is not None,  # a daemon's audits are always on the record
        metrics=_serve_metrics(metrics_at) if metrics_at else None,
        baseline_id=baseline_id,
        haproxy_stats=haproxy_stats,
        native=not no_native,
        post_deploy=post_deploy,
        dialect=Dialect(dialect) if dialect else None,
    )

    def once() -> bool:
        report = cycle()
        _emit(lambda stream: RENDERERS[fmt](report, stream, threshold), output)
        return report.failed(threshold)

    from lbguard import cli as top
    from lbguard.util import keep_until_exit

    if every is None and top.exits_without_teardown():
        keep_until_exit()  # a one-shot audit ends in cli._leave once its store is closed
    with store:
        if every is None:
            failed = once()
            top.finished("audit")  # the store closes on the way out, then the process ends
            sys.exit(EXIT_FINDINGS if failed else EXIT_OK)
        from lbguard.audit.daemon import run_every
        from lbguard.audit.durations import parse_duration

        interval = parse_duration(every)
        click.echo(f"lbguard: auditing every {every}; stop with SIGTERM or Ctrl-C", err=True)
        run_every(
            interval,
            once,
            lambda message: click.echo(f"lbguard: audit failed: {message}", err=True),
        )
        click.echo("lbguard: audit daemon stopped", err=True)
    sys.exit(EXIT_OK)


def _serve_metrics(address: str) -> AuditMetrics:
    """Start /metrics (watch's server, the audit's own registry); returns the gauges."""
    from prometheus_client import CollectorRegistry

    from lbguard.audit.metrics import AuditMetrics
    from lbguard.haproxy_runtime import RuntimeAPIError, parse_endpoint
    from lbguard.watch.metrics import serve_metrics

    try:
        where = parse_endpoint(address)
    except RuntimeAPIError:
        where = None
    if where is None or where.host is None or where.port is None:
        raise LbguardError(f"--metrics wants HOST:PORT (like 127.0.0.1:9918), not '{address}'")
    registry = CollectorRegistry()
    metrics = AuditMetrics(registry)
    try:
        server = serve_metrics(registry, where.host, where.port)
    except OSError as exc:
        raise LbguardError(f"cannot serve /metrics on {address}: {exc.strerror}") from None
    click.echo(f"lbguard: metrics on http://{where.host}:{server.server_port}/metrics", err=True)
    return metrics


# --------------------------------------------------------------------------- trail


@click.group("trail")
def trail_command() -> None:
    """The tamper-evident trail: verify it, and mark deploys in it."""


@trail_command.command("verify")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_store_option
@_settings_option
def verify_command(fmt: str, store_url: str | None, settings_path: Path | None) -> None:
    """Recompute every record's hash; name the first edited, deleted or reordered record.

    Exit status: 0 intact, 1 broken, 2 the store cannot be read.
    """
    _, store = _open(store_url, settings_path)
    with store:
        verdict = store.verify()
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "checked": verdict.checked,
                    "first_bad_seq": verdict.first_bad_seq,
                    "reason": verdict.reason,
                    "head_hash": verdict.head_hash,
                }
            )
        )
    elif verdict.ok:
        click.echo(f"trail intact: {verdict.checked} records, head {verdict.head_hash}")
    else:
        click.echo(
            f"trail BROKEN at record {verdict.first_bad_seq}: {verdict.reason} "
            f"({verdict.checked} records before it are intact)"
        )
    sys.exit(EXIT_OK if verdict.ok else EXIT_FINDINGS)


@trail_command.command("mark")
@click.argument("kind", type=click.Choice(["deploy"]))
@click.option("--note", required=True, help="What was deployed (release, ticket, commit).")
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(),
    help="The deployed config (repeatable): records its drift against the approved baseline.",
)
@click.option("--subject", help="What was deployed to (a host, a pool).")
@_store_option
@_settings_option
def mark_command(
    kind: str,
    note: str,
    configs: tuple[str, ...],
    subject: str | None,
    store_url: str | None,
    settings_path: Path | None,
) -> None:
    """Append a deploy marker, for a CD pipeline to call after each rollout."""
    settings, store = _open(store_url, settings_path)
    body: dict[str, Any] = {"note": note}
    with store:
        if configs:
            body.update(_deploy_drift(configs, settings, store))
        rec = store.append(kind, body, subject=subject)
    extra = f", {body.get('drift_total', 0)} drift changes" if configs else ""
    click.echo(f"marked {kind} as trail record #{rec.seq}{extra}")


def _deploy_drift(
    configs: tuple[str, ...], settings: CommandSettings, store: Store
) -> dict[str, Any]:
    from lbguard.audit.findings import Kind
    from lbguard.audit.run import run_audit

    # The balancer configs' drift only: no validators or native checks in a deploy step.
    report = run_audit(configs, settings.without_audit_files(), store, native=False)
    drift = [f.as_json() for f in report.findings if f.kind is Kind.DRIFT]
    return {
        "configs": report.configs,
        "baselines": report.baselines,
        "drift": drift[:50],
        "drift_total": len(drift),
        "states": report.state_hashes(),
    }


# ---------------------------------------------------------------- timeline, postmortem


def _window(since: str, until: str | None) -> tuple[datetime, datetime]:
    from lbguard.audit.durations import parse_since

    now = datetime.now(UTC)
    start = parse_since(since, now)
    end = parse_since(until, now) if until else now
    if end < start:
        raise LbguardError(f"--until ({until}) is before --since ({since})")
    return start, end


@click.command("timeline")
@click.option("--since", required=True, help="2h, 30m, or a time: 2026-11-30T06:00Z.")
@click.option("--until", help="End of the window (default: now).")
@click.option("--pool", help="Only events about this backend or upstream (and deploys).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_store_option
@_settings_option
def timeline_command(
    since: str,
    until: str | None,
    pool: str | None,
    fmt: str,
    store_url: str | None,
    settings_path: Path | None,
) -> None:
    """Deploys, drift, checks, alerts, actions and health changes in order, timed from the
    first bad event."""
    from lbguard.audit.timeline import events, first_bad, render_text

    start, end = _window(since, until)
    _, store = _open(store_url, settings_path)
    with store:
        evs = events(store.records(since=start, until=end), pool)
    anchor = first_bad(evs)
    if fmt == "json":
        rows = [
            {
                "seq": e.record.seq,
                "at": e.at.isoformat(),
                "kind": e.kind,
                "event": e.what,
                "bad": e.bad,
                "relative_seconds": (e.at - anchor.at).total_seconds() if anchor else None,
            }
            for e in evs
        ]
        doc = {"first_bad_seq": anchor.record.seq if anchor else None, "events": rows}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    if not evs:
        click.echo(f"no events between {start:%Y-%m-%d %H:%M:%S} and {end:%H:%M:%S} UTC")
        return
    if anchor is not None:
        click.echo(f"T+0 = {anchor.at:%Y-%m-%d %H:%M:%S} UTC, #{anchor.record.seq} {anchor.what}")
    click.echo(render_text(evs, anchor))


@click.command("postmortem")
@click.option("--since", required=True, help="2h, 30m, or a time: 2026-11-30T06:00Z.")
@click.option("--until", help="End of the window (default: now).")
@click.option("--pool", help="Only events about this backend or upstream (and deploys).")
@click.option("--format", "fmt", type=click.Choice(["markdown"]), default="markdown")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write it here.")
@_store_option
@_settings_option
def postmortem_command(
    since: str,
    until: str | None,
    pool: str | None,
    fmt: str,
    output: Path | None,
    store_url: str | None,
    settings_path: Path | None,
) -> None:
    """Write a postmortem skeleton from the trail: impact window, detection and resolution
    times, the timeline and the change that preceded it."""
    from lbguard.audit.postmortem import render_markdown
    from lbguard.audit.timeline import events

    del fmt  # markdown is the one format; the option keeps scripts explicit
    start, end = _window(since, until)
    _, store = _open(store_url, settings_path)
    with store:
        evs = events(store.records(since=start, until=end), pool)
    text = render_markdown(evs, start, end)

    def write(stream: TextIO) -> None:
        stream.write(text)

    _emit(write, output)
