"""The other ways in and out: HAProxy's stats page and Prometheus exporter, apprise."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lbguard.sandbox.haproxy_box import free_port
from lbguard.watch.receivers import AppriseReceiver
from test_cli import lbguard
from watch_e2e import Load, running_haproxy, until, webhook_server

pytestmark = pytest.mark.native


def test_stats_page_and_exporter_in_the_real_haproxy(haproxy_bin: str, tmp_path: Path) -> None:
    stats = free_port()
    with (
        running_haproxy(haproxy_bin, tmp_path, stats_port=stats) as box,
        Load(box.port, rate=150, max_seconds=40),
    ):
        page = f"http://admin:s3cret-pw@127.0.0.1:{stats}/stats"
        table = lbguard("watch", "--haproxy-stats", page, "--once", "--interval", "1.5")
        box.command("set weight app/web-01 5")
        exporter = f"prometheus+http://127.0.0.1:{stats}/metrics"
        doc = lbguard(
            "watch",
            "--haproxy-stats",
            exporter,
            "--lb-config",
            str(box.cfg),
            "--once",
            "--interval",
            "1.5",
            "--format",
            "json",
        )
        wrong = lbguard("watch", "--haproxy-stats", page.replace("s3cret-pw", "nope"), "--once")
    assert table.returncode == 0, table.stderr
    assert "web-02" in table.stdout and "33.3%" in table.stdout
    assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr
    assert "s3cret-pw" not in wrong.stderr + table.stdout + table.stderr
    assert doc.returncode == 1, doc.stderr
    result = json.loads(doc.stdout)
    servers = {s["name"]: s for s in result["pools"][0]["servers"]}
    assert servers["web-01"]["weight"] == 5 and servers["web-01"]["requests"] > 0
    kinds = {(a["kind"], a["server"]) for a in result["alerts"]}
    assert ("weight-drift", "web-01") in kinds


def test_apprise_delivers_through_its_json_url() -> None:
    port = free_port()
    alert = {
        "fingerprint": "f1",
        "kind": "concentration",
        "severity": "critical",
        "balancer": "lb",
        "pool": "app",
        "server": "web-01",
        "summary": "web-01 receives 100% of app's requests; weights say 33.3%",
        "state": "firing",
        "starts_at": "2026-11-30T06:00:00+00:00",
        "runbook_url": "https://lbguard.dev/runbooks/concentration/",
    }

    async def send(receiver: AppriseReceiver, received: list[dict[str, object]]) -> None:
        await receiver.send(alert)
        await until(lambda: bool(received), 10, "the apprise POST")

    receiver = AppriseReceiver([f"json://127.0.0.1:{port}/"])
    with webhook_server(port) as received:
        asyncio.run(send(receiver, received))
    body = received[0]["body"]
    assert isinstance(body, dict)
    assert "web-01" in str(body.get("title")) and "100%" in str(body.get("message"))
    with pytest.raises(ValueError, match="apprise does not understand"):
        AppriseReceiver(["nonsense-url"])
