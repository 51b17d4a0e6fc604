"""`lbguard probe` and `lbguard agent` from the command line, against real servers on
loopback: HTTP checks with the config's own path and expected status, TLS, agents
that report overload, a dead server, and a remote one that must not be touched."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from health_helpers import Backend, LoopThread, free_pair, free_port, wait_for
from lbguard.health.overload import HostSignals, OverloadMonitor, Threshold, Thresholds
from lbguard.health.probe import HttpCheck, http_check_of, is_loopback, masked_path
from lbguard.model import Dialect


def lbguard(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LBGUARD_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "lbguard", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _tls_context(tmp: Path) -> ssl.SSLContext:
    key, crt = tmp / "k.pem", tmp / "c.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ctx


class Servers:
    def __init__(self, tmp: Path) -> None:
        self.loop = LoopThread()
        self.ok = Backend("ok", OverloadMonitor())
        # An agent whose monitor is overloaded by its descriptor signal (threshold 0).
        hot = OverloadMonitor(
            host=HostSignals(fds=True), thresholds=Thresholds(fds=Threshold(0.0, 1e-9))
        )
        self.hot = Backend("hot", hot)
        self.sick = Backend("sick", OverloadMonitor(), status=503)
        for b in (self.ok, self.hot, self.sick):
            self.loop.run(b.start())
        self.dead = free_port()
        ctx = _tls_context(tmp)

        async def tls_start() -> asyncio.base_events.Server:
            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                try:
                    await r.readuntil(b"\r\n\r\n")
                    w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    await w.drain()
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    pass
                w.close()

            return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)

        self.tls = self.loop.run(tls_start())
        self.tls_port = self.tls.sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.tls.close()
        for b in (self.ok, self.hot, self.sick):
            self.loop.run(b.stop())
        self.loop.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(tmp_path)
    try:
        yield s
    finally:
        s.stop()


def _config(s: Servers, tmp: Path) -> Path:
    path = tmp / "haproxy.cfg"
    path.write_text(
        f"""defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend www
    bind :80
    default_backend app
backend app
    option httpchk
    http-check send meth GET uri /health
    http-check expect status 200
    server ok 127.0.0.1:{s.ok.port} check agent-check agent-port {s.ok.agent_port}
    server hot 127.0.0.1:{s.hot.port} check agent-check agent-port {s.hot.agent_port}
    server sick 127.0.0.1:{s.sick.port} check
    server gone 127.0.0.1:{s.dead} check
    server far 192.0.2.10:80 check
backend secure
    mode tcp
    server tls1 127.0.0.1:{s.tls_port} ssl verify none check
"""
    )
    return path


def test_probe_reports_each_server_and_its_signal(servers: Servers, tmp_path: Path) -> None:
    cfg = _config(servers, tmp_path)
    served_before = servers.ok.served.total()
    proc = lbguard("probe", str(cfg), "--format", "json", "--timeout", "3")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    by = {r["server"]: r for r in report["servers"]}
    assert by["ok"]["status"] == "up"
    assert [c["kind"] for c in by["ok"]["checks"]] == ["tcp", "http", "agent", "readyz"]
    assert by["ok"]["checks"][1]["detail"] == "GET /health -> 200"
    assert by["hot"]["status"] == "overloaded" and by["hot"]["signal"] == "fds"
    assert "file descriptors" in by["hot"]["reason"]
    assert by["sick"]["status"] == "down" and "503" in by["sick"]["reason"]
    assert by["gone"]["status"] == "down" and "connect" in by["gone"]["reason"]
    assert by["far"]["status"] == "skipped" and "--allow-remote" in by["far"]["reason"]
    assert by["tls1"]["status"] == "up"
    assert [c["kind"] for c in by["tls1"]["checks"]] == ["tcp", "tls"]
    assert report["summary"] == {
        "servers": 6,
        "up": 2,
        "down": 2,
        "overloaded": 1,
        "skipped": 1,
    }
    # The health check reached the app itself, through its own path.
    assert servers.ok.served.total() > served_before

    text = lbguard("probe", str(cfg), "--pool", "secure")
    assert text.returncode == 0, text.stdout + text.stderr
    assert "tls1" in text.stdout and "1 up" in text.stdout


def test_probe_baselines_flag_a_slow_server(servers: Servers, tmp_path: Path) -> None:
    cfg = _config(servers, tmp_path)
    base = tmp_path / "baselines.json"
    base.write_text(json.dumps({"app/ok": 0.0001}))
    servers.ok.latency = 0.2
    proc = lbguard("probe", str(cfg), "--pool", "app", "--format", "json", "--baseline", str(base))
    by = {r["server"]: r for r in json.loads(proc.stdout)["servers"]}
    assert by["ok"]["status"] == "overloaded" and by["ok"]["signal"] == "latency"
    saved = json.loads(base.read_text())
    # Overloaded servers do not teach the baseline their slowness.
    assert saved["app/ok"] == 0.0001


def test_probe_input_errors_are_one_line(tmp_path: Path) -> None:
    missing = lbguard("probe", str(tmp_path / "nope.cfg"))
    assert missing.returncode == 2 and missing.stderr.startswith("lbguard: error:")
    remote = tmp_path / "remote.cfg"
    remote.write_text("backend app\n    server a 192.0.2.1:80 check\n")
    proc = lbguard("probe", str(remote))
    assert proc.returncode == 2 and "--allow-remote" in proc.stderr
    assert "Traceback" not in proc.stderr
    unknown = lbguard("probe", str(remote), "--pool", "nope")
    assert unknown.returncode == 2 and "known: app" in unknown.stderr


def test_http_check_from_the_model(tmp_path: Path) -> None:
    from lbguard.check import Unit, parse_unit

    path = tmp_path / "h.cfg"
    path.write_text(
        "backend a\n    option httpchk HEAD /ping HTTP/1.1\n    server s 127.0.0.1:1 check\n"
        "backend b\n    server s 127.0.0.1:1 check\n"
        "backend c\n    option httpchk /status\n    http-check expect status 200-204\n"
        "    server s 127.0.0.1:1 check\n"
    )
    config = parse_unit(Unit(Dialect.HAPROXY, [str(path)])).config
    a, b, c = (config.pool(n) for n in "abc")
    assert a is not None and b is not None and c is not None
    assert http_check_of(a) == HttpCheck("HEAD", "/ping")
    assert http_check_of(b) is None
    assert http_check_of(c) == HttpCheck("OPTIONS", "/status", None, frozenset(range(200, 205)))
    assert masked_path("/h?token=s3cr3t&x") == "/h?token=********&x"
    assert masked_path("/h") == "/h"
    assert is_loopback("127.3.4.5") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("192.0.2.1")


def test_agent_snippet_from_the_model(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "backend app\n"
        "    server web-01 10.0.0.1:8080 check weight 20\n"
        "    server web-02 10.0.0.2:8080 maxconn 100 agent-check agent-port 99\n"
    )
    proc = lbguard("agent", "--print-haproxy-snippet", str(cfg), "--backend", "app")
    assert proc.returncode == 0, proc.stderr
    lines = [x.strip() for x in proc.stdout.splitlines() if not x.startswith("#")]
    assert lines == [
        "server web-01 10.0.0.1:8080 check weight 20 agent-check agent-port 5555 agent-inter 2s",
        "server web-02 10.0.0.2:8080 maxconn 100 check agent-check agent-port 5555 agent-inter 2s",
    ]
    bad = lbguard("agent", "--print-haproxy-snippet", str(cfg), "--backend", "nope")
    assert bad.returncode == 2 and bad.stderr.startswith("lbguard: error: no backend")


def _http(port: int, request: bytes) -> tuple[bytes, bytes]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(request + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_agent_daemon_answers_and_stops_on_sigterm() -> None:
    port = free_pair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lbguard", "agent", "--port", str(port), "--capacity", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import socket

        def reply() -> str:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    return s.recv(100).decode()
            except OSError:
                return ""

        line = wait_for(reply, 20, 0.1)
        assert line.startswith("up ") and line.endswith("%\n"), line
        head, body = _http(port + 1, b"GET /readyz")
        assert head.split()[1] in (b"200", b"503")
        assert json.loads(body)["capacity"] == 10
        head, body = _http(port + 1, b"HEAD /healthz")
        assert head.startswith(b"HTTP/1.1 200") and body == b""
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_probe_unix_socket_servers(tmp_path: Path) -> None:
    loop = LoopThread()
    path = tmp_path / "app.sock"

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await w.drain()
        w.close()

    server = loop.run(asyncio.start_unix_server(handle, str(path)))
    try:
        cfg = tmp_path / "nginx.conf"
        cfg.write_text(
            "events {}\nhttp {\n    upstream app {\n"
            f"        server unix:{path};\n        server unix:{tmp_path / 'gone.sock'};\n"
            "    }\n    server { listen 80; location / { proxy_pass http://app; } }\n}\n"
        )
        proc = lbguard("probe", str(cfg), "--format", "json")
    finally:
        server.close()
        loop.stop()
    by = {r["endpoint"]: r["status"] for r in json.loads(proc.stdout)["servers"]}
    assert by == {f"unix:{path}": "up", f"unix:{tmp_path / 'gone.sock'}": "down"}
    assert proc.returncode == 1


def test_snippet_round_trip_satisfies_lbg207_and_haproxy(tmp_path: Path) -> None:
    from conftest import EXAMPLES, require_haproxy

    require_haproxy()
    fixed = EXAMPLES / "incident" / "haproxy.fixed.cfg"
    snippet = lbguard("agent", "--print-haproxy-snippet", str(fixed), "--backend", "app")
    assert snippet.returncode == 0, snippet.stderr
    new_servers = [line for line in snippet.stdout.splitlines() if not line.startswith("#")]
    lines = fixed.read_text().splitlines()
    kept = [x for x in lines if not x.strip().startswith("server web-")]
    at = next(i for i, x in enumerate(kept) if x.startswith("backend app")) + 1
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("\n".join(kept[:at] + new_servers + kept[at:]) + "\n")
    before = json.loads(lbguard("check", "--format", "json", str(fixed)).stdout)
    after = lbguard("check", "--format", "json", "--fail-on", "info", str(cfg))
    assert "LBG207" in {f["code"] for f in before["findings"]}
    # With the agent lines the config is clean even at info level, the real haproxy -c
    # included.
    assert after.returncode == 0, after.stdout
