"""Alerts leave the daemon: store trail, outbox, a real webhook, a real Alertmanager, /metrics.

And the daemon stays up when its source disappears (the blind alert).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from lbguard.sandbox.haproxy_box import free_port
from lbguard.store import open_store
from lbguard.watch.alerts import Alert
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.collectors.haproxy_csv import SocketStats
from lbguard.watch.daemon import Daemon, Watch
from lbguard.watch.engine import Engine
from lbguard.watch.metrics import serve_metrics
from lbguard.watch.receivers import AlertmanagerReceiver, Receiver, WebhookReceiver
from watch_e2e import Haproxy, Load, running_haproxy, until, webhook_server

pytestmark = pytest.mark.native
INTERVAL = 0.3


def make_daemon(
    box: Haproxy, store_url: str, receivers: list[Receiver], registry: CollectorRegistry | None
) -> tuple[Daemon, list[Alert]]:
    seen: list[Alert] = []
    engine = Engine("lb-test", f"unix:{box.socket}", config=ConfigFile(str(box.cfg)))
    daemon = Daemon(
        [Watch(SocketStats(box.socket, timeout=2), engine)],
        INTERVAL,
        open_store(store_url),
        receivers,
        registry,
        log=lambda line: None,
    )
    daemon.on_alert.append(seen.append)
    return daemon, seen


def firing(seen: list[Alert], kind: str, server: str = "") -> bool:
    return any(a.kind == kind and a.server == server and a.state == "firing" for a in seen)


def test_receiver_down_then_up_gets_each_alert_exactly_once_across_a_restart(
    haproxy_bin: str, tmp_path: Path
) -> None:
    port = free_port()
    store_url = f"sqlite:///{tmp_path / 'lbguard.db'}"
    hook_url = f"http://127.0.0.1:{port}/hook"

    async def first_run(box: Haproxy) -> list[Alert]:
        daemon, seen = make_daemon(box, store_url, [WebhookReceiver(hook_url)], None)
        async with daemon:
            await until(lambda: daemon.cycles >= 3, 10, "warm-up")
            box.command("set server app/web-02 state drain")
            await until(lambda: firing(seen, "weight-drift", "web-02"), 15, "drift")
            assert daemon.store is not None
            await until(lambda: daemon.store.outbox.pending_count() == 1, 5, "queued")  # type: ignore[union-attr]
            await asyncio.sleep(1.5)  # retries against a closed port, with backoff
            assert daemon.store.outbox.pending_count() == 1
        return seen

    async def second_run(box: Haproxy, received: list[dict[str, Any]]) -> list[Alert]:
        daemon, seen = make_daemon(box, store_url, [WebhookReceiver(hook_url)], None)
        async with daemon:
            await until(lambda: len(received) >= 1, 20, "the delivery after the receiver is up")
            await until(lambda: daemon.cycles >= 6, 10, "more polls")
            box.command("set server app/web-02 state ready")
            await until(lambda: len(received) >= 2, 20, "the resolve")
            await asyncio.sleep(1.0)
        return seen

    with running_haproxy(haproxy_bin, tmp_path) as box, Load(box.port, rate=100, max_seconds=60):
        first = asyncio.run(first_run(box))
        with webhook_server(port) as received:
            second = asyncio.run(second_run(box, received))
    assert [a.state for a in first if a.kind == "weight-drift"] == ["firing"]
    # The restarted daemon adopted the firing alert: it resolved it, never re-fired it.
    assert [a.state for a in second if a.kind == "weight-drift"] == ["resolved"]
    states = [r["body"]["alert"]["state"] for r in received]
    assert states == ["firing", "resolved"], received
    assert len({r["key"] for r in received}) == 2
    assert received[0]["body"]["alert"]["server"] == "web-02"
    store = open_store(store_url)
    trail = [r.body for r in store.records(kinds=["alert"])]
    assert [(b["kind"], b["state"]) for b in trail] == [
        ("weight-drift", "firing"),
        ("weight-drift", "resolved"),
    ]
    assert store.verify().ok
    assert store.outbox.pending_count() == 0


@contextlib.contextmanager
def alertmanager(tmp: Path) -> Iterator[str]:
    exe = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
    if not os.path.exists(exe):
        if os.environ.get("LBGUARD_REQUIRE_NATIVE") == "1":
            pytest.fail("prometheus-alertmanager is required but not installed")
        pytest.skip("prometheus-alertmanager is not installed")
    cfg = tmp / "alertmanager.yml"
    cfg.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={cfg}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("alertmanager did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_alertmanager_metrics_and_blind(haproxy_bin: str, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    server = serve_metrics(registry, "127.0.0.1", 0)
    metrics_url = f"http://127.0.0.1:{server.server_port}/metrics"

    def am_alerts(url: str) -> list[dict[str, Any]]:
        return list(httpx.get(f"{url}/api/v2/alerts", timeout=2).json())

    async def scenario(box: Haproxy, am: str) -> tuple[list[Alert], str, list[dict[str, Any]]]:
        store_url = f"sqlite:///{tmp_path / 'lbguard.db'}"
        daemon, seen = make_daemon(box, store_url, [AlertmanagerReceiver(am)], registry)
        async with daemon:
            await until(lambda: daemon.cycles >= 4, 10, "warm-up")
            text = (await asyncio.to_thread(httpx.get, metrics_url)).text
            box.command("set server app/web-03 state drain")

            def in_am() -> bool:
                return any(
                    a["labels"].get("alertname") == "lbguard-weight-drift"
                    and a["labels"].get("server") == "web-03"
                    for a in am_alerts(am)
                )

            await until(in_am, 20, "the alert in Alertmanager", step=0.3)
            shown = am_alerts(am)
            # The stats socket disappears (moved away): blind, and the daemon keeps polling.
            os.rename(box.socket, box.socket + ".away")
            await until(lambda: firing(seen, "blind"), 15, "the blind alert")
            cycles = daemon.cycles
            await until(lambda: daemon.cycles >= cycles + 3, 10, "polls after going blind")
            os.rename(box.socket + ".away", box.socket)
            await until(
                lambda: any(a.kind == "blind" and a.state == "resolved" for a in seen),
                20,
                "blind resolved",
            )
        return seen, text, shown

    try:
        with (
            alertmanager(tmp_path) as am,
            running_haproxy(haproxy_bin, tmp_path) as box,
            Load(box.port, rate=100, max_seconds=60),
        ):
            seen, metrics_text, shown = asyncio.run(scenario(box, am))
    finally:
        server.shutdown()
        server.server_close()
    alert = next(a for a in shown if a["labels"]["alertname"] == "lbguard-weight-drift")
    assert alert["labels"]["pool"] == "app" and alert["labels"]["balancer"] == "lb-test"
    assert "web-03 is drained" in alert["annotations"]["summary"]
    assert alert["annotations"]["runbook_url"].endswith("/runbooks/weight-drift/")
    blind = next(a for a in seen if a.kind == "blind")
    assert "admin.sock" in blind.summary and blind.severity == "critical"
    line = 'lbguard_watch_expected_share_ratio{balancer="lb-test",pool="app",server="web-01"}'
    assert line in metrics_text
    value = float(metrics_text.split(line, 1)[1].split()[0])
    assert abs(value - 1 / 3) < 1e-6
    assert 'lbguard_watch_polls_total{balancer="lb-test",result="ok"}' in metrics_text
