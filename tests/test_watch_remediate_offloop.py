"""Remediation never runs a runtime API command on the watcher's event loop: a hung
HAProxy holds the remediation worker, not the polls."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from lbguard.watch.alerts import FIRING, Alert, fingerprint
from lbguard.watch.daemon import Daemon
from lbguard.watch.remediation import remediation
from lbguard.watch.thresholds import OVERLOAD


def overload(server: str) -> Alert:
    return Alert(
        fingerprint("lb-1", "app", server, OVERLOAD),
        OVERLOAD,
        "warning",
        "lb-1",
        "app",
        server,
        f"{server} is overloaded",
        FIRING,
        datetime.now(UTC),
        None,
    )


@contextmanager
def hung_socket(path: Path) -> Iterator[tuple[threading.Event, threading.Event]]:
    """A stats socket that accepts and then says nothing until `release` is set, as a
    HAProxy stuck in a long reload does; yields (accepted, release)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    accepted, release = threading.Event(), threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        accepted.set()
        release.wait(30)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield accepted, release
    finally:
        release.set()
        thread.join(5)
        listener.close()


def test_the_hook_returns_while_the_socket_hangs(tmp_path: Path) -> None:
    said: list[str] = []
    with hung_socket(tmp_path / "admin.sock") as (accepted, release):
        hook = remediation(
            "lb-1",
            str(tmp_path / "admin.sock"),
            apply=True,
            publish=lambda alert: None,
            echo=said.append,
            timeout=5,
        )
        hook(overload("web-02"))  # a blocking hook would sit here until the timeout
        assert accepted.wait(5), "the worker never asked the runtime API"
        assert said == [], "the hook waited for the socket's answer"
        release.set()
        hook.close()  # finishes what it was handed
    # The empty answer is reported, not raised into the daemon.
    assert len(said) == 1 and said[0].startswith("remediate:"), said


def test_the_daemon_keeps_polling_and_waits_for_the_worker_on_shutdown(tmp_path: Path) -> None:
    said: list[str] = []
    log: list[str] = []
    daemon = Daemon([], 0.05, log=log.append)
    with hung_socket(tmp_path / "admin.sock") as (accepted, release):
        hook = remediation(
            "lb-1",
            str(tmp_path / "admin.sock"),
            apply=True,
            publish=daemon.publish,
            echo=said.append,
            timeout=5,
        )
        daemon.on_alert.append(hook)

        async def scenario() -> int:
            async with daemon:
                daemon.publish(overload("web-02"))
                await asyncio.to_thread(accepted.wait, 5)
                polled = daemon.cycles
                while daemon.cycles < polled + 3:  # the loop runs on while the worker waits
                    await asyncio.sleep(0.05)
                assert said == []
                release.set()
            return daemon.cycles

        assert asyncio.run(asyncio.wait_for(scenario(), 20)) >= 3
    # Stopping waited for the worker: its outcome is there once the daemon is stopped.
    assert len(said) == 1 and said[0].startswith("remediate:"), said


def test_a_timeout_is_an_outcome_not_an_exception(tmp_path: Path) -> None:
    # remediation's old client let an OSError mid-answer escape raw.
    said: list[str] = []
    with hung_socket(tmp_path / "admin.sock") as (accepted, _release):
        hook = remediation(
            "lb-1", str(tmp_path / "admin.sock"), apply=True, publish=lambda a: None,
            echo=said.append, timeout=0.5,
        )  # fmt: skip
        hook(overload("web-02"))
        hook.close()  # the worker gives up after the timeout, the socket still silent
    assert accepted.is_set()
    assert said == [
        f"remediate: cannot act on app: unix:{tmp_path / 'admin.sock'}: "
        "'show stat' did not finish within 0.5 s"
    ]
