"""`lbguard simulate` and `lbguard diff`: predicted traffic shares, and how a change moves them."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click

from lbguard.errors import EXIT_FINDINGS, EXIT_OK, LbguardError
from lbguard.findings import Finding, Severity
from lbguard.model import Config, Dialect, Pool
from lbguard.options import merge_option
from lbguard.simulate.predict import Prediction, predict, server_state
from lbguard.simulate.traffic import Request, Trace, TrafficModel

BAR = 20


@dataclass
class Loaded:
    config: Config
    path: str


def load_configs(
    paths: tuple[str, ...], dialect: str | None, prefix: str | None = None, merge: bool = False
) -> list[Loaded]:
    """Parse configs for prediction; a config that does not parse cannot be simulated.

    `merge` reads every HAProxy file and directory as one config, as `check --merge`.
    """
    from lbguard.check import parse_unit, plan_units

    out = []
    for unit in plan_units(list(paths), Dialect(dialect) if dialect else None, merge):
        parsed = parse_unit(unit, prefix=prefix)
        out.append(Loaded(parsed.config, unit.paths[0]))
    return out


def merge_hint(loaded: list[Loaded], merge: bool) -> str | None:
    """A notice when several HAProxy files are read one at a time: `haproxy -f A -f B`
    reads them as one config, so defaults in A apply to B's backends."""
    separate = [item.path for item in loaded if item.config.dialect is Dialect.HAPROXY]
    if merge or len(separate) < 2:
        return None
    return (
        f"{len(separate)} HAProxy files read one at a time; pass --merge to read them as "
        "one config, as haproxy -f A -f B does"
    )


def traffic_from_log(path: str) -> Trace:
    from lbguard.accesslog import read_access_log

    log = read_access_log(path)
    frame = log.frame
    clients = frame["client_ip"].to_list()
    uris = frame["uri"].to_list()
    hosts = frame["host"].to_list()
    requests = [
        Request(c or "0.0.0.0", u or "/", (("Host", h or "lb.test"),))
        for c, u, h in zip(clients, uris, hosts, strict=True)
    ]
    return Trace(
        requests,
        {
            "kind": "log",
            "path": path,
            "format": log.format,
            "requests": len(requests),
            "clients": frame["client_ip"].n_unique(),
        },
    )


def _findings_json(findings: list[Finding]) -> list[dict[str, Any]]:
    from lbguard.output.json_format import finding_dict

    return [finding_dict(f) for f in findings]


def _judge(prediction: Prediction) -> list[Finding]:
    from lbguard.rules.predicted_concentration import PredictedConcentration

    return list(PredictedConcentration().judge(prediction))


def _select(pools: tuple[Pool, ...], name: str | None) -> list[Pool]:
    chosen = [p for p in pools if not p.implicit and (name is None or p.name == name)]
    return chosen


def _bar(share: float) -> str:
    filled = round(share * BAR)
    return "█" * filled + "·" * (BAR - filled)


def render_table(predictions: list[Prediction], traffic: dict[str, Any]) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    width = max(int(os.environ.get("COLUMNS", "0") or 0), 100)
    console = Console(highlight=False, width=width)
    described = ", ".join(f"{k}={v}" for k, v in traffic.items())
    console.print(f"Traffic model: {described}\n")
    for p in predictions:
        table = Table(
            title=f"{p.pool.kind} {p.pool.name} ({p.dialect.value}, {p.pool.balance.algorithm})",
            title_justify="left",
        )
        for col in ("server", "state", "weight", "expected", "predicted", "", "deviation"):
            table.add_column(col, justify="right" if col not in ("server", "", "state") else "left")
        for s in p.pool.servers:
            got = p.predicted.get(s.name, 0.0)
            want = p.expected.get(s.name, 0.0)
            table.add_row(
                s.name,
                server_state(p.pool, s),
                str(s.weight),
                f"{want:7.1%}",
                f"{got:7.1%}",
                _bar(got),
                f"{(got - want) * 100:+.1f} pp",
            )
        console.print(table)
        shares = ", ".join(f"{s.name}: {p.predicted.get(s.name, 0.0):.0%}" for s in p.pool.servers)
        console.print(f"  predicted: {shares}")
        console.print(f"  max share {p.max_share:.1%}   gini {p.gini:.3f}")
        if p.failed:
            console.print(f"  {p.failed:.1%} of requests found no server")
        for note in p.notes:
            console.print(f"  model: {note}", style="dim")
        console.print()


@click.command("simulate")
@click.argument("configs", nargs=-1, required=True, type=click.Path())
@click.option("--pool", "pool_name", help="Only this backend or upstream.")
@click.option("--requests", type=click.IntRange(1, 50_000_000), default=20_000, show_default=True)
@click.option("--clients", type=click.IntRange(1, 10_000_000), default=5_000, show_default=True)
@click.option(
    "--client-subnets",
    type=click.IntRange(1, 65_536),
    default=256,
    show_default=True,
    help="How many /24 networks the clients are spread over.",
)
@click.option("--behind-proxy", is_flag=True, help="Every request arrives from one proxy address.")
@click.option(
    "--rate", type=click.FloatRange(min=0.001), help="leastconn/first: arrivals per second."
)
@click.option(
    "--duration-ms",
    type=click.FloatRange(min=0.001),
    help="leastconn/first: mean time a request holds its server.",
)
@click.option("--traffic", "traffic_log", type=click.Path(), help="Replay an access log instead.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--dialect", type=click.Choice([d.value for d in Dialect]))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="warning")
@merge_option
def simulate_command(
    configs: tuple[str, ...],
    pool_name: str | None,
    requests: int,
    clients: int,
    client_subnets: int,
    behind_proxy: bool,
    rate: float | None,
    duration_ms: float | None,
    traffic_log: str | None,
    seed: int,
    dialect: str | None,
    fmt: str,
    fail_on: str,
    merge: bool,
) -> None:
    """Predict each server's share of traffic from the config, with exact algorithm models.

    The default traffic: 20,000 requests from 5,000 IPv4 clients over 256 /24s, no
    proxy in front, URIs with Zipf(1.1) popularity over 10,000 paths.
    """
    loaded = load_configs(configs, dialect, merge=merge)
    if hint := merge_hint(loaded, merge):
        click.echo(f"lbguard: {hint}", err=True)
    model = TrafficModel(
        requests=requests,
        clients=clients,
        client_subnets=client_subnets,
        behind_proxy=behind_proxy,
        seed=seed,
        rate=rate,
        duration=duration_ms / 1000 if duration_ms else None,
    )
    if (rate is None) != (duration_ms is None):
        raise LbguardError("--rate and --duration-ms go together")
    trace = traffic_from_log(traffic_log) if traffic_log else None
    traffic = trace.description if trace is not None else model.describe()
    predictions: list[Prediction] = []
    findings: dict[int, list[Finding]] = {}
    for item in loaded:
        for pool in _select(item.config.pools, pool_name):
            prediction = predict(pool, item.config.dialect, model, trace)
            predictions.append(prediction)
            findings[id(prediction)] = _judge(prediction)
    if pool_name is not None and not predictions:
        raise LbguardError(f"no backend or upstream named '{pool_name}' in {', '.join(configs)}")
    if fmt == "json":
        doc = {
            "version": 1,
            "traffic": traffic,
            "pools": [p.as_json(_findings_json(findings[id(p)])) for p in predictions],
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render_table(predictions, traffic)
        for group in findings.values():
            for f in group:
                click.echo(
                    f"{f.location.path}:{f.location.line}: {f.severity.label} {f.code} {f.message}"
                )
    threshold = Severity.parse(fail_on)
    failed = any(f.severity >= threshold for group in findings.values() for f in group)
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


# ------------------------------------------------------------------------- diff


def keys_remapped(before: Pool, after: Pool, dialect: Dialect, trace: Trace) -> float | None:
    """For hashing pools: the share of distinct keys (requests) whose server changes.

    Keys, not requests: a few hot keys would otherwise decide the figure, and it is the
    key-to-server mapping that caches and session affinity depend on.
    """
    from lbguard.simulate.engine import simulate

    if not (before.balance.is_hash or after.balance.is_hash):
        return None
    from lbguard.simulate.predict import key_function

    key = key_function(after, dialect)
    seen: dict[object, Request] = {}
    for req in trace.requests:
        k = key(req)
        if k is not None:
            seen.setdefault(k, req)
    unique = Trace(list(seen.values()))
    if not unique.requests:
        return None
    old = simulate(before, dialect, unique).picks
    new = simulate(after, dialect, unique).picks
    names_old = [before.servers[i].name if i >= 0 else "" for i in old]
    names_new = [after.servers[i].name if i >= 0 else "" for i in new]
    moved = sum(1 for a, b in zip(names_old, names_new, strict=True) if a != b)
    return moved / max(len(names_old), 1)


@click.command("diff")
@click.argument("old", type=click.Path())
@click.argument("new", type=click.Path())
@click.option("--pool", "pool_name", help="Only this backend or upstream.")
@click.option("--requests", type=click.IntRange(1, 10_000_000), default=20_000, show_default=True)
@click.option(
    "--threshold",
    type=float,
    default=0.05,
    show_default=True,
    help="Report servers whose share moves by more than this fraction.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def diff_command(
    old: str, new: str, pool_name: str | None, requests: int, threshold: float, seed: int, fmt: str
) -> None:
    """Show how a config change moves traffic: share before and after, per server."""
    before = load_configs((old,), None)[0].config
    after = load_configs((new,), None)[0].config
    model = TrafficModel(requests=requests, seed=seed)
    trace = model.generate()
    dialect = after.dialect
    names = [p.name for p in _select(after.pools, pool_name)]
    names += [p.name for p in _select(before.pools, pool_name) if p.name not in names]
    pools_out = []
    moved_any = False
    for name in names:
        b, a = before.pool(name), after.pool(name)
        pb = predict(b, before.dialect, model, trace) if b else None
        pa = predict(a, dialect, model, trace) if a else None
        servers = []
        all_names = [s.name for s in (a.servers if a else ())]
        all_names += [s.name for s in (b.servers if b else ()) if s.name not in all_names]
        for s in all_names:
            sb = pb.predicted.get(s, 0.0) if pb else 0.0
            sa = pa.predicted.get(s, 0.0) if pa else 0.0
            server = (a and next((x for x in a.servers if x.name == s), None)) or (
                b and next((x for x in b.servers if x.name == s), None)
            )
            state = server_state(a or b, server) if server else "removed"  # type: ignore[arg-type]
            moved = abs(sa - sb) > threshold
            moved_any = moved_any or moved
            servers.append(
                {
                    "name": s,
                    "address": server.endpoint if server else "",
                    "weight": server.weight if server else 0,
                    "state": state,
                    "share_before": round(sb, 6),
                    "share_after": round(sa, 6),
                    "moved": moved,
                }
            )
        entry: dict[str, Any] = {
            "name": name,
            "balancer": dialect.value,
            "algorithm": (a or b).balance.algorithm if (a or b) else "",  # type: ignore[union-attr]
            "status": "added" if b is None else "removed" if a is None else "changed",
            "servers": servers,
        }
        if a is not None and b is not None:
            remapped = keys_remapped(b, a, dialect, trace)
            if remapped is not None:
                entry["keys_remapped"] = round(remapped, 6)
        pools_out.append(entry)
    if fmt == "json":
        json.dump(
            {"version": 1, "traffic": model.describe(), "pools": pools_out}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    else:
        for entry in pools_out:
            click.echo(f"{entry['name']} ({entry['algorithm']}):")
            for s in entry["servers"]:
                mark = "  <-- moved" if s["moved"] else ""
                click.echo(
                    f"  {s['name']:<24} {s['share_before']:7.1%} -> {s['share_after']:7.1%}{mark}"
                )
            if "keys_remapped" in entry:
                click.echo(f"  keys remapped: {entry['keys_remapped']:.1%}")
    sys.exit(EXIT_FINDINGS if moved_any else EXIT_OK)
