"""Start the real haproxy on a sandboxed config, replay a trace through it, stop it.

Everything stays on loopback: the balancer listens on 127.0.0.1, its servers are
local stubs, and each request leaves from a 127.a.b.c address derived from the
modelled client so that `balance source` sees distinct clients. Nothing outlives
the run: the balancer runs in its own process group, killed on exit, error or
Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lbguard.errors import LbguardError
from lbguard.model import Config, Pool
from lbguard.native import find_binary
from lbguard.sandbox.haproxy_box import build_sandbox
from lbguard.sandbox.stubs import StubFarm, StubServer
from lbguard.simulate.traffic import Request, Trace
from lbguard.sources import read_source


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when lbguard itself dies, even by SIGKILL.

    The balancer runs in its own process group so that it can be killed as a group;
    that also detaches it from a Ctrl-C aimed at lbguard, and `finally` blocks do not
    run when lbguard is killed outright. PR_SET_PDEATHSIG covers that last case.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop_group(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    """Stop a balancer started with `start_new_session`: TERM its group, KILL after `grace`."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def loopback_source(client: str) -> str:
    """127.b.c.d for a.b.c.d: distinct clients stay distinct, and never leave the host."""
    parts = client.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        return "127.0.0.1"
    b, c, d = (int(p) % 256 for p in parts[1:])
    if (b, c, d) == (0, 0, 0) or (b, c, d) == (255, 255, 255):
        return "127.0.0.1"
    return f"127.{b}.{c}.{d}"


def loopback_trace(trace: Trace) -> Trace:
    """The trace as the sandbox will really send it, for the simulator to replay too."""
    return Trace([Request(loopback_source(r.client), r.uri, r.headers) for r in trace.requests])


@dataclass
class Observed:
    counts: Counter[str] = field(default_factory=Counter)  # from the stubs' own header
    sequence: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)  # lbtot from `show stat`
    failed: int = 0
    sent: int = 0
    seconds: float = 0.0
    proxy_protocol: bool = False


def _request(port: int, req: Request, timeout: float, proxy: bool = False) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.bind((req.client, 0))
        s.connect(("127.0.0.1", port))
        if proxy:
            # A PROXY protocol v1 line carrying the real client, as a load balancer in
            # front would send it.
            client = req.header("X-Forwarded-For") or req.client
            sport = s.getsockname()[1]
            s.sendall(f"PROXY TCP4 {client} 127.0.0.1 {sport} {port}\r\n".encode())
        head = f"GET {req.uri} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers)
        s.sendall((head + "Connection: close\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"x-lbguard-server:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace") if log.exists() else ""
            alerts = [line for line in err.splitlines() if "ALERT" in line or "emerg" in line]
            detail = alerts[0].split(":", 2)[-1].strip() if alerts else f"exit {proc.returncode}"
            raise LbguardError(f"the balancer exited during start-up in the sandbox: {detail}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise LbguardError("the balancer did not start listening in the sandbox within 5 s")


def _show_stat(path: str, pool: str) -> dict[str, int]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(path)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    rows = data.decode().splitlines()
    if not rows or not rows[0].startswith("# "):
        return {}
    header = rows[0][2:].split(",")
    px, sv, lbtot = header.index("pxname"), header.index("svname"), header.index("lbtot")
    out: dict[str, int] = {}
    for row in rows[1:]:
        cols = row.split(",")
        if len(cols) > lbtot and cols[px] == pool and cols[sv] not in ("FRONTEND", "BACKEND"):
            out[cols[sv]] = int(cols[lbtot] or 0)
    return out


def _entry_port(config: Config, pool: Pool, ports: dict[str, int]) -> int:
    if pool.name in ports:
        return ports[pool.name]
    for fe in config.frontends:
        if fe.name in ports and any(r.pool == pool.name and r.default for r in fe.routes):
            return ports[fe.name]
    for fe in config.frontends:
        if fe.name in ports and any(r.pool == pool.name for r in fe.routes):
            return ports[fe.name]
    raise LbguardError(
        f"no frontend sends traffic to '{pool.name}' by default; verify needs a "
        "default_backend (or a listen section) to reach it"
    )


Stage = Mapping[str, tuple[float, int]]  # server name -> (latency seconds, HTTP status)
Progress = Callable[[int], None]


def run_haproxy(
    path: str,
    config: Config,
    pool: Pool,
    trace: Trace,
    *,
    timeout: float = 60.0,
    stage: Stage | None = None,
    progress: Progress | None = None,
) -> Observed:
    exe = find_binary("haproxy")
    if exe is None:
        raise LbguardError("haproxy is not installed; verify needs the real binary")
    lines = read_source(path).text.split("\n")
    observed = Observed()
    with tempfile.TemporaryDirectory(prefix="lbguard-sandbox-") as tmp:
        box = build_sandbox(config, lines, tmp)
        cfg = os.path.join(tmp, "haproxy.cfg")
        with open(cfg, "w", encoding="utf-8") as fh:
            fh.write(box.text)
        stage = stage or {}
        stubs = [
            StubServer(f"{p}/{s}", port, *stage.get(s, (0.0, 200)))
            for (p, s), port in box.stub_ports.items()
        ]
        farm = StubFarm(stubs)
        log = Path(tmp) / "haproxy.log"
        with log.open("wb") as errors:
            proc = subprocess.Popen(
                [exe, "-db", "-f", cfg],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            # The stubs start after the fork: preexec_fn must not run beside threads.
            farm.start()
            port = _entry_port(config, pool, box.frontend_ports)
            observed.proxy_protocol = any(
                b.accept_proxy for fe in config.frontends for b in fe.binds
            )
            _wait_listening(port, proc, time.monotonic() + 5, log)
            started = time.monotonic()
            deadline = started + timeout
            for req in trace.requests:
                if time.monotonic() > deadline:
                    break
                observed.sent += 1
                if progress is not None and observed.sent % 100 == 0:
                    progress(observed.sent)
                try:
                    who = _request(port, req, 5.0, observed.proxy_protocol)
                except OSError:
                    who = None
                if who is None:
                    observed.failed += 1
                    observed.sequence.append("")
                    continue
                name = who.split("/", 1)[1] if who.startswith(f"{pool.name}/") else who
                observed.counts[name] += 1
                observed.sequence.append(name)
            observed.seconds = time.monotonic() - started
            with contextlib.suppress(OSError):
                observed.stats = _show_stat(box.socket_path, pool.name)
        finally:
            stop_group(proc)
            farm.stop()
    return observed


def run_nginx(
    path: str,
    upstream: str,
    trace: Trace,
    *,
    timeout: float = 60.0,
    stage: Stage | None = None,
    progress: Progress | None = None,
) -> tuple[Observed, Config]:
    """Run a single-file nginx config in the sandbox; also return the rewritten config's
    model, which the simulator must use (ketama hashes the server string as written)."""
    from lbguard.parsers.nginx import parse_nginx
    from lbguard.sandbox.nginx_box import build_nginx_sandbox

    exe = find_binary("nginx")
    if exe is None:
        raise LbguardError("nginx is not installed; verify needs the real binary")
    lines = read_source(path).text.split("\n")
    observed = Observed()
    with tempfile.TemporaryDirectory(prefix="lbguard-sandbox-") as tmp:
        box = build_nginx_sandbox(lines, tmp)
        os.makedirs(os.path.join(tmp, "logs"), exist_ok=True)
        cfg = os.path.join(tmp, "nginx.conf")
        with open(cfg, "w", encoding="utf-8") as fh:
            fh.write(box.text)
        config, _ = parse_nginx([cfg])
        # Stubs are named by their rewritten address; staging names the original one,
        # and both lists follow the upstream's server order.
        original, _ = parse_nginx([path])
        boxed, before = config.pool(upstream), original.pool(upstream)
        renamed: dict[str, str] = {}
        if boxed is not None and before is not None:
            renamed = {b.name: o.name for b, o in zip(boxed.servers, before.servers, strict=False)}
        stage = stage or {}
        stubs = [
            StubServer(f"{u}/{a}", port, *stage.get(renamed.get(a, a), (0.0, 200)))
            for (u, a), port in box.stub_ports.items()
        ]
        farm = StubFarm(stubs)
        log = Path(tmp) / "nginx.stderr"
        with log.open("wb") as errors:
            proc = subprocess.Popen(
                [exe, "-p", f"{tmp}/", "-c", cfg, "-g", "daemon off; master_process on;"],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            farm.start()
            _wait_listening(box.port, proc, time.monotonic() + 5, log)
            started = time.monotonic()
            deadline = started + timeout
            for req in trace.requests:
                if time.monotonic() > deadline:
                    break
                observed.sent += 1
                if progress is not None and observed.sent % 100 == 0:
                    progress(observed.sent)
                try:
                    who = _request(box.port, req, 5.0)
                except OSError:
                    who = None
                if who is None or not who.startswith(f"{upstream}/"):
                    observed.failed += 1
                    observed.sequence.append("")
                    continue
                name = who.split("/", 1)[1]
                observed.counts[name] += 1
                observed.sequence.append(name)
            observed.seconds = time.monotonic() - started
        finally:
            stop_group(proc)
            farm.stop()
    return observed, config
