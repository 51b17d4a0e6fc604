"""`watch --once` output: a table of shares against expected, or the JSON contract.

The JSON shape is the `version: 1` pool/server shape that `simulate` uses, with the
live figures (`observed_share`, `requests`) in place of the predicted ones:

    {"version": 1,
     "pools": [{"name", "servers": [{"name", "status", "weight", "expected_share",
                                     "observed_share", "requests"}]}],
     "alerts": [{"fingerprint", "kind", "severity", "pool", "server", "summary",
                 "state", "starts_at"}]}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from lbguard.watch.alerts import Alert
from lbguard.watch.engine import Engine

BAR = 20


def as_json(engines: Sequence[Engine], alerts: Sequence[Alert]) -> dict[str, Any]:
    pools = []
    for engine in engines:
        snapshot = engine.last
        for name, view in engine.views.items():
            sample = snapshot.pools.get(name) if snapshot is not None else None
            servers = []
            for s in sample.servers if sample is not None else ():
                servers.append(
                    {
                        "name": s.name,
                        "status": s.status,
                        "weight": s.weight,
                        "expected_share": round(view.expectation.shares.get(s.name, 0.0), 6),
                        "observed_share": round(view.observed.get(s.name, 0.0), 6),
                        "requests": view.requests.get(s.name, 0),
                    }
                )
            pools.append({"name": name, "servers": servers})
    return {
        "version": 1,
        "pools": pools,
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "kind": a.kind,
                "severity": a.severity,
                "pool": a.pool,
                "server": a.server,
                "summary": a.summary,
                "state": a.state,
                "starts_at": a.starts_at.isoformat(),
            }
            for a in alerts
        ],
    }


def write_json(stream: TextIO, engines: Sequence[Engine], alerts: Sequence[Alert]) -> None:
    json.dump(as_json(engines, alerts), stream, indent=2)
    stream.write("\n")


def _bar(share: float) -> str:
    filled = round(share * BAR)
    return "█" * filled + "·" * (BAR - filled)


def write_table(
    stream: TextIO, engines: Sequence[Engine], alerts: Sequence[Alert], seconds: float
) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    width = max(int(os.environ.get("COLUMNS", "0") or 0), 100)
    console = Console(file=stream, highlight=False, width=width)
    for engine in engines:
        snapshot = engine.last
        for name, view in engine.views.items():
            sample = snapshot.pools.get(name) if snapshot is not None else None
            if sample is None or not sample.servers:
                continue
            total = sum(view.requests.values())
            table = Table(
                title=f"{engine.balancer} {name} ({view.expectation.mode}): {total} requests "
                f"in {seconds:g} s",
                title_justify="left",
            )
            for col in ("server", "status", "weight", "expected", "observed", "", "requests"):
                table.add_column(
                    col, justify="left" if col in ("server", "status", "") else "right"
                )
            for s in sample.servers:
                got = view.observed.get(s.name, 0.0)
                table.add_row(
                    s.name,
                    s.status,
                    str(s.weight),
                    f"{view.expectation.shares.get(s.name, 0.0):7.1%}",
                    f"{got:7.1%}",
                    _bar(got),
                    str(view.requests.get(s.name, 0)),
                )
            console.print(table)
            for note in view.expectation.notes:
                console.print(f"  note: {note}", style="dim")
    if not alerts:
        console.print("no alert")
        return
    for a in alerts:
        where = "/".join(p for p in (a.pool, a.server) if p)
        console.print(f"[bold]{a.severity.upper()}[/bold] {a.kind} {where}: {a.summary}")
        console.print(f"  runbook: {a.runbook_url}", style="dim")
