"""`lbguard verify`: the config in the real balancer, measured, against the prediction."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import click

from lbguard.errors import EXIT_FINDINGS, EXIT_OK, LbguardError
from lbguard.model import Dialect, Pool
from lbguard.options import merge_option
from lbguard.simulate.engine import simulate
from lbguard.simulate.predict import server_state
from lbguard.simulate.traffic import Request, Trace, TrafficModel


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    # Refreshed by the sender itself: no refresh thread, so the sender may fork.
    with Progress(transient=True, auto_refresh=False) as bar:
        task = bar.add_task(f"verify {label}", total=total)
        yield lambda sent: bar.update(task, completed=sent, refresh=True)


def _parse_stage(values: tuple[str, ...]) -> dict[str, tuple[float, int]]:
    """--stub NAME:latency=50ms,status=503 -> {NAME: (0.05, 503)}."""
    stage: dict[str, tuple[float, int]] = {}
    for value in values:
        m = re.fullmatch(r"(.+?):((?:latency|status)=.*)", value)
        name, spec = (m.group(1), m.group(2)) if m else (value, "")
        latency, status = 0.0, 200
        for part in filter(None, spec.split(",")):
            key, _, v = part.partition("=")
            try:
                if key == "latency":
                    latency = float(v[:-2]) / 1000 if v.endswith("ms") else float(v.rstrip("s"))
                elif key == "status":
                    status = int(v)
                else:
                    raise ValueError(key)
            except ValueError:
                raise LbguardError(
                    f"--stub {value}: expected NAME:latency=50ms,status=503"
                ) from None
        stage[name] = (latency, status)
    return stage


def verify_pool(
    path: str,
    config: Any,
    pool: Pool,
    model: TrafficModel,
    *,
    timeout: float,
    tolerance: float,
    max_share: float,
    replay: Trace | None = None,
    stage: Mapping[str, tuple[float, int]] | None = None,
    prefix: str | None = None,
) -> dict[str, Any]:
    """Run one pool's traffic through the real balancer and judge it against the model."""
    from lbguard.sandbox.run import loopback_trace, run_haproxy, run_nginx

    trace = loopback_trace(replay if replay is not None else model.generate())
    dialect = config.dialect
    with _progress(len(trace), f"{pool.name}") as tick:
        if dialect is Dialect.HAPROXY:
            observed = run_haproxy(
                path, config, pool, trace, timeout=timeout, stage=stage, progress=tick
            )
            boxed = None
        else:
            observed, boxed = run_nginx(
                path, pool.name, trace, timeout=timeout, stage=stage, progress=tick, prefix=prefix
            )
    if boxed is None:
        modelled = pool
    else:
        found = boxed.pool(pool.name)
        assert found is not None
        modelled = found
    sent = observed.sent
    replayed = [trace.requests[i] for i in observed.indices]
    if observed.proxy_protocol:
        # With accept-proxy the balancer's source address is the one the PROXY line names.
        replayed = [
            Request(r.header("X-Forwarded-For") or r.client, r.uri, r.headers) for r in replayed
        ]
    predicted_raw = simulate(modelled, dialect, replayed).shares() if sent else {}
    # In the nginx sandbox servers carry their stub address; map back by position.
    rename = {m.name: o.name for m, o in zip(modelled.servers, pool.servers, strict=True)}
    predicted = {rename.get(k, k): v for k, v in predicted_raw.items()}
    observed.counts = type(observed.counts)(
        {rename.get(k, k): v for k, v in observed.counts.items()}
    )
    expected = pool.weight_shares()
    answered = max(sent - observed.failed, 1)
    stats_total = sum(observed.stats.values()) or 1
    servers = []
    worst = 0.0
    top = 0.0
    for s in pool.servers:
        obs = observed.counts.get(s.name, 0) / answered
        pred = predicted.get(s.name, 0.0)
        worst = max(worst, abs(obs - pred))
        top = max(top, obs)
        servers.append(
            {
                "name": s.name,
                "address": s.endpoint,
                "weight": s.weight,
                "state": server_state(pool, s),
                "expected_share": round(expected.get(s.name, 0.0), 6),
                "predicted_share": round(pred, 6),
                "observed_share": round(obs, 6),
                # nginx open source keeps no per-server counters.
                "stats_share": (
                    round(observed.stats.get(s.name, 0) / stats_total, 6)
                    if observed.stats
                    else None
                ),
                "requests": observed.counts.get(s.name, 0),
            }
        )
    serving = [s for s in pool.servers if observed.counts.get(s.name, 0) > 0]
    reasons = []
    if worst > tolerance:
        reasons.append(
            f"simulated and observed shares differ by {worst * 100:.1f} points "
            f"(tolerance {tolerance * 100:.1f})"
        )
    if top > max_share and len(pool.servers) >= 2:
        reasons.append(f"one server received {top:.0%} of requests (limit {max_share:.0%})")
    if observed.failed:
        reasons.append(f"{observed.failed} requests failed")
    return {
        "name": pool.name,
        "balancer": dialect.value,
        "algorithm": pool.balance.algorithm,
        "servers": servers,
        "max_share": round(top, 6),
        "requests_sent": sent,
        "requests_failed": observed.failed,
        "requests_per_second": round(sent / observed.seconds, 1) if observed.seconds else 0.0,
        "verdict": "fail" if reasons else "pass",
        "reasons": reasons,
        "servers_answering": len(serving),
        "notes": observed.notes,
    }


@click.command("verify")
@click.argument("configs", nargs=-1, required=True, type=click.Path())
@click.option("--pool", "pool_name", help="Only this backend.")
@click.option("--requests", type=click.IntRange(1, 1_000_000), default=20_000, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option("--clients", type=click.IntRange(1, 1_000_000), default=5000, show_default=True)
@click.option("--client-subnets", type=click.IntRange(1, 65_536), default=256, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--traffic", "traffic_log", type=click.Path(), help="Replay an access log.")
@click.option(
    "--behind-proxy",
    is_flag=True,
    help="Send every request from one proxy address, with X-Forwarded-For (or a PROXY "
    "protocol line where the bind has accept-proxy) carrying the client.",
)
@click.option(
    "--stub",
    "stubs",
    multiple=True,
    metavar="SERVER:latency=50ms,status=503",
    help="Stage a slow or failing server (repeatable).",
)
@click.option("--tolerance", type=click.FloatRange(0, 1), default=0.01, show_default=True)
@click.option("--max-share", type=click.FloatRange(0, 1), default=0.9, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--dialect", type=click.Choice([d.value for d in Dialect]))
@click.option(
    "--prefix",
    "-p",
    type=click.Path(),
    help="nginx: the conf directory relative includes resolve against, as nginx -p.",
)
@merge_option
def verify_command(
    configs: tuple[str, ...],
    pool_name: str | None,
    requests: int,
    timeout: float,
    clients: int,
    client_subnets: int,
    seed: int,
    traffic_log: str | None,
    behind_proxy: bool,
    stubs: tuple[str, ...],
    tolerance: float,
    max_share: float,
    fmt: str,
    dialect: str | None,
    prefix: str | None,
    merge: bool,
) -> None:
    """Run the config in the real HAProxy or nginx on loopback; measure each server's share.

    Servers are replaced by local stubs, listeners by free 127.0.0.1 ports, and each
    request leaves from its own 127.x.y.z address. The measured shares are compared
    with `lbguard simulate` on the very same requests.
    """
    from lbguard.simulate.cli import load_configs, merge_hint, traffic_from_log

    model = TrafficModel(
        requests=requests,
        clients=clients,
        client_subnets=client_subnets,
        seed=seed,
        behind_proxy=behind_proxy,
    )
    stage = _parse_stage(stubs)
    replay = None
    if traffic_log:
        # The log's first --requests requests, in order.
        logged = traffic_from_log(traffic_log)
        replay = Trace(logged.requests[:requests], logged.description)
    loaded = load_configs(configs, dialect, prefix, merge)
    if hint := merge_hint(loaded, merge):
        click.echo(f"lbguard: {hint}", err=True)
    chosen = [
        (item, pool)
        for item in loaded
        for pool in item.config.pools
        if not pool.implicit and (pool_name is None or pool.name == pool_name)
    ]
    known = {s.name for _, pool in chosen for s in pool.servers}
    for name in stage:
        if name not in known:
            raise LbguardError(
                f"--stub {name}: no such server in the pools to verify "
                f"(servers: {', '.join(sorted(known)) or 'none'})"
            )
    pools_out: list[dict[str, Any]] = []
    for item, pool in chosen:
        pools_out.append(
            verify_pool(
                item.path,
                item.config,
                pool,
                model,
                timeout=timeout,
                tolerance=tolerance,
                max_share=max_share,
                replay=replay,
                stage=stage,
                prefix=prefix,
            )
        )
    if not pools_out:
        fragments = [item.path for item in loaded if item.config.fragment]
        raise LbguardError(
            "no backend to verify"
            + (f" named '{pool_name}'" if pool_name else "")
            + (
                f" ({fragments[0]} is a fragment without upstreams: pass the main file, "
                "nginx.conf, with --prefix if includes are relative to another directory)"
                if fragments
                else ""
            )
        )
    if fmt == "json":
        traffic = replay.description if replay is not None else model.describe()
        json.dump({"version": 1, "traffic": traffic, "pools": pools_out}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for p in pools_out:
            click.echo(
                f"{p['name']} ({p['algorithm']}): {p['requests_sent']} requests through the real "
                f"{p['balancer']}, {p['requests_per_second']:.0f}/s"
            )
            click.echo(
                f"  {'server':<16}{'expected':>10}{'simulated':>11}{'observed':>10}{'stats':>8}"
            )
            for s in p["servers"]:
                stats = "-" if s["stats_share"] is None else f"{s['stats_share']:.1%}"
                click.echo(
                    f"  {s['name']:<16}{s['expected_share']:>10.1%}{s['predicted_share']:>11.1%}"
                    f"{s['observed_share']:>10.1%}{stats:>8}"
                )
            verdict = p["verdict"].upper()
            why = "; ".join(p["reasons"]) or "the real balancer did what the model predicts"
            click.echo(f"  verdict: {verdict}: {why}")
            for note in p["notes"]:
                click.echo(f"  note: {note}")
            click.echo("")
    sys.exit(EXIT_FINDINGS if any(p["verdict"] == "fail" for p in pools_out) else EXIT_OK)
