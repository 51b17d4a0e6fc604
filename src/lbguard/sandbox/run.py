"""Start the real haproxy or nginx on a sandboxed config, replay a trace, stop it.

Everything stays on loopback: the balancer listens on 127.0.0.1, its servers are
local stubs, and each request leaves from a 127.a.b.c address derived from the
modelled client so that `balance source` sees distinct clients. Nothing outlives
the run: the balancer and the stubs run in their own process groups, stopped on
exit, error or Ctrl-C, and a watchdog (`reaper`) stops them if lbguard is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
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
from lbguard.sandbox.reaper import Reaper
from lbguard.sandbox.sender import FIRST_STUB, NOT_SENT, plan_for, send
from lbguard.sandbox.stubs import Stubs, StubServer, stop_group
from lbguard.simulate.traffic import Request, Trace
from lbguard.sources import read_source
from lbguard.util import is_digits


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


def request_once(port: int, req: Request, timeout: float, proxy: bool = False) -> str | None:
    """One blocking request from the request's own loopback source; the server that answered.

    The sandbox's sender is far faster; this is for steady background load in demos and
    tests, where one request at a time is the point.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.bind((req.client, 0))
        s.connect(("127.0.0.1", port))
        if proxy:
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


def loopback_source(client: str) -> str:
    """127.b.c.d for a.b.c.d: distinct clients stay distinct, and never leave the host."""
    parts = client.split(".")
    if len(parts) != 4 or not all(is_digits(p) for p in parts):
        return "127.0.0.1"
    b, c, d = (int(p) % 256 for p in parts[1:])
    if (b, c, d) == (0, 0, 0) or (b, c, d) == (255, 255, 255):
        return "127.0.0.1"
    return f"127.{b}.{c}.{d}"


def loopback_trace(trace: Trace) -> Trace:
    """The trace as the sandbox will really send it, for the simulator to replay too."""
    return Trace([Request(loopback_source(r.client), r.uri, r.headers) for r in trace.requests])


Stage = Mapping[str, tuple[float, int]]  # server name -> (latency seconds, HTTP status)
Progress = Callable[[int], None]


@dataclass
class Observed:
    counts: Counter[str] = field(default_factory=Counter)  # from the stubs' own header
    # Which server answered each sent request ("" when it failed), for the trace
    # positions in `indices` (ascending; a prefix of the trace unless cut short).
    sequence: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)  # lbtot from `show stat`
    failed: int = 0
    sent: int = 0
    seconds: float = 0.0
    proxy_protocol: bool = False
    # What the sandbox had to leave out or redirect, for the user to know.
    notes: list[str] = field(default_factory=list)


# Algorithms that look at connections in flight: concurrency would change their
# answers, so their traffic goes one request at a time, as the model assumes.
_IN_FLIGHT = frozenset({"leastconn", "least_conn", "random", "least_time"})


def needs_order(pool: Pool, in_flight: int) -> bool:
    """Whether the pool's choices could depend on `in_flight` concurrent requests.

    A server `maxconn` above what is ever in flight never queues anything (and so
    `balance first` still fills the first server), so it does not count.
    """
    return (
        pool.balance.algorithm in _IN_FLIGHT
        or pool.balance.hash_balance_factor > 0
        or any(s.maxconn is not None and s.maxconn <= in_flight for s in pool.servers)
    )


def per_connection(pool: Pool) -> bool:
    """Whether each request needs its own connection to be balanced on its own.

    TCP pools balance connections. `prefer-last-server` sends a keep-alive
    connection's requests back to the same server, which the model (a trace of
    independent requests) does not assume.
    """
    return pool.mode == "tcp" or pool.has_flag("prefer-last-server")


def _replay(
    port: int,
    pool: Pool,
    trace: Trace,
    farm_names: list[str],
    server_of: Callable[[str], str | None],
    *,
    proxy_protocol: bool,
    ordered: bool | None,
    timeout: float,
    progress: Progress | None,
    tls: bool = False,
) -> Observed:
    """Send the trace to the balancer; attribute every answer by its stub's header."""
    requests = trace.requests
    plan = plan_for(
        port,
        farm_names,
        requests,
        proxy_protocol=proxy_protocol,
        per_connection=per_connection(pool),
        ordered=bool(ordered),
        tls=tls,
    )
    if ordered is None and needs_order(pool, plan.lanes * plan.processes):
        plan = dataclasses.replace(plan, ordered=True, processes=1)
    started = time.monotonic()
    codes = send(plan, timeout, progress)
    observed = Observed(proxy_protocol=proxy_protocol)
    observed.seconds = time.monotonic() - started
    names = [server_of(n) for n in farm_names]
    for i, code in enumerate(codes):
        if code == NOT_SENT:
            continue
        observed.indices.append(i)
        name = names[code - FIRST_STUB] if code >= FIRST_STUB else None
        if name is None:
            observed.failed += 1
            observed.sequence.append("")
        else:
            observed.counts[name] += 1
            observed.sequence.append(name)
    observed.sent = len(observed.indices)
    return observed


# haproxy: "[ALERT]    (993) : config : [f.cfg:7] : msg"; nginx: "nginx: [emerg] msg in f:4".
_ALERT = re.compile(r"\[(?:ALERT|emerg)\]\s*(?:\(\d+\)\s*:\s*|\d+#\d+:\s*)?(?:config\s*:\s*)?(.*)")


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = log.read_text(errors="replace") if log.exists() else ""
            alerts = [m.group(1) for m in map(_ALERT.search, err.splitlines()) if m]
            detail = alerts[0].strip() if alerts else f"exit {proc.returncode}"
            raise LbguardError(f"the balancer exited during start-up in the sandbox: {detail}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise LbguardError("the balancer did not start listening in the sandbox within 5 s")


def _show_stat(port: int, pool: str) -> dict[str, int]:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
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


def _entry_port(config: Config, pool: Pool, ports: dict[str, int], direct: dict[str, int]) -> int:
    if pool.name in ports:
        return ports[pool.name]
    for fe in config.frontends:
        if fe.name in ports and any(r.pool == pool.name and r.default for r in fe.routes):
            return ports[fe.name]
    if pool.name in direct:
        return direct[pool.name]
    raise LbguardError(
        f"no frontend sends traffic to '{pool.name}' by default; verify needs a "
        "default_backend (or a listen section) to reach it"
    )


def _measure(
    argv: list[str],
    folder: str,
    stubs: list[StubServer],
    port: int,
    pool: Pool,
    trace: Trace,
    *,
    proxy_protocol: bool = False,
    ordered: bool | None,
    timeout: float,
    progress: Progress | None,
    stats_port: int | None = None,
    explain: Callable[[str], str] = str,
    tls: bool = False,
) -> Observed:
    """Start the stubs and the balancer, replay the trace, and stop everything.

    Nothing outlives this call: both run in their own process groups, stopped in
    `finally`, and die with lbguard even if it is killed outright.
    """
    farm = Stubs.plan(stubs, folder, find_binary("nginx"), _die_with_parent)
    log = Path(folder) / "balancer.stderr"
    procs: list[subprocess.Popen[bytes]] = []
    reaper = Reaper()
    try:
        # Processes first: fork and preexec_fn must not run beside the stubs' thread.
        reaper.start()
        farm.start_processes()
        for pgid in farm.process_groups():
            reaper.watch(pgid)
        with log.open("wb") as errors:
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=folder,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            )
        reaper.watch(procs[0].pid)
        farm.start_threads()
        try:
            _wait_listening(port, procs[0], time.monotonic() + 5, log)
        except LbguardError as exc:
            raise LbguardError(explain(exc.message)) from None
        prefix = f"{pool.name}/"
        observed = _replay(
            port,
            pool,
            trace,
            [s.name for s in stubs],
            lambda who: who[len(prefix) :] if who.startswith(prefix) else None,
            proxy_protocol=proxy_protocol,
            ordered=ordered,
            timeout=timeout,
            progress=progress,
            tls=tls,
        )
        if stats_port is not None:
            with contextlib.suppress(OSError):
                observed.stats = _show_stat(stats_port, pool.name)
        return observed
    finally:
        for proc in procs:
            stop_group(proc)
            reaper.release(proc.pid)
        for pgid in farm.process_groups():
            reaper.release(pgid)
        farm.stop()
        reaper.close()


def run_haproxy(
    path: str,
    config: Config,
    pool: Pool,
    trace: Trace,
    *,
    timeout: float = 60.0,
    stage: Stage | None = None,
    progress: Progress | None = None,
    ordered: bool | None = None,
) -> Observed:
    """Replay `trace` to `pool` through the real haproxy running the sandboxed config.

    `ordered`: one request at a time in trace order (None: only where the pool's
    algorithm depends on what is in flight).
    """
    exe = find_binary("haproxy")
    if exe is None:
        raise LbguardError("haproxy is not installed; verify needs the real binary")
    where: list[tuple[str, int]] | None = None
    if len(config.files) > 1:
        config, lines, where = merged_config([f.path for f in config.files])
        found = config.pool(pool.name)
        assert found is not None, pool.name
        pool = found
    else:
        lines = read_source(path).text.split("\n")
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
        port = _entry_port(config, pool, box.frontend_ports, box.direct_ports)
        observed = _measure(
            [exe, "-db", "-f", cfg],
            tmp,
            stubs,
            port,
            pool,
            trace,
            proxy_protocol=any(b.accept_proxy for fe in config.frontends for b in fe.binds),
            ordered=ordered,
            timeout=timeout,
            progress=progress,
            stats_port=box.stats_port,
            explain=lambda message: box.original(message, cfg, path, where),
            tls=port in box.tls_ports,
        )
    observed.notes = box.notes
    if port in box.direct_ports.values():
        observed.notes.append(
            f"backend {pool.name} is reached only through use_backend rules; the sandbox "
            "sent the whole trace to it through a frontend of its own"
        )
    return observed


def merged_config(paths: list[str]) -> tuple[Config, list[str], list[tuple[str, int]]]:
    """Several `-f` files as the one file the sandbox stages: HAProxy reads them in
    order as one config, and a valid file starts with a section header, so their
    concatenation is that config. Returns its model, its lines and, for each line,
    the file and line it came from."""
    from lbguard.parsers.haproxy import parse_haproxy_texts
    from lbguard.sources import SourceText

    lines: list[str] = []
    where: list[tuple[str, int]] = []
    for path in paths:
        own = read_source(path).text.split("\n")
        if own and own[-1] == "":
            own.pop()  # the final newline
        lines.extend(own)
        where.extend((path, n) for n in range(1, len(own) + 1))
    text = "\n".join(lines) + "\n"
    name = "merged.cfg"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    config = parse_haproxy_texts([SourceText(name, text, digest)]).config
    return config, [*lines, ""], where


def _compiled_prefix(exe: str) -> str:
    """nginx's --prefix as built (what relative paths in its config start from)."""
    try:
        out = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=10).stderr
    except (OSError, subprocess.TimeoutExpired):
        return "/"
    m = re.search(r"--prefix=(\S+)", out)
    return m.group(1) if m else "/usr/local/nginx"


def run_nginx(
    path: str,
    upstream: str,
    trace: Trace,
    *,
    timeout: float = 60.0,
    stage: Stage | None = None,
    progress: Progress | None = None,
    ordered: bool | None = None,
    prefix: str | None = None,
) -> tuple[Observed, Config]:
    """Replay `trace` to `upstream` through the real nginx running the staged config.

    Also returns the staged config's model, which the simulator must use (ketama
    hashes the server string as written). `prefix`: the conf directory that
    relative includes resolve against, as for `lbguard check --prefix`.
    """
    from lbguard.parsers.nginx import parse_nginx
    from lbguard.sandbox.nginx_box import build_nginx_sandbox

    exe = find_binary("nginx")
    if exe is None:
        raise LbguardError("nginx is not installed; verify needs the real binary")
    with tempfile.TemporaryDirectory(prefix="lbguard-sandbox-") as tmp:
        original, _ = parse_nginx([path], prefix=prefix)
        # Upstreams that only some paths lead to get a server block of their own, so
        # that the whole trace reaches them, as it does in the model.
        direct = frozenset(
            p.name
            for p in original.pools
            if not p.implicit
            and p.mode == "http"
            and not any(
                r.pool == p.name and r.default for fe in original.frontends for r in fe.routes
            )
        )
        box = build_nginx_sandbox([path], tmp, prefix, _compiled_prefix(exe), direct)
        config, _ = parse_nginx([box.main], prefix=box.conf_dir)
        boxed, before = config.pool(upstream), original.pool(upstream)
        if boxed is None or before is None:
            raise LbguardError(f"{path}: no upstream named '{upstream}'")
        # Stubs are named by their staged address; staging names the original one,
        # and both lists follow the upstream's server order.
        renamed = {b.name: o.name for b, o in zip(boxed.servers, before.servers, strict=False)}
        stage = stage or {}
        stubs = [
            StubServer(f"{u}/{a}", port, *stage.get(renamed.get(a, a), (0.0, 200)))
            for (u, a), port in box.stub_ports.items()
        ]
        run_args = (
            f"daemon off; master_process on; pid {tmp}/nginx.pid; error_log {tmp}/logs/error.log;"
        )
        argv = [exe, "-p", f"{tmp}/", "-e", f"{tmp}/logs/error.log", "-c", box.main, "-g", run_args]
        observed = _measure(
            argv,
            tmp,
            stubs,
            box.entry_port(original, before),
            boxed,
            trace,
            proxy_protocol=any(b.accept_proxy for fe in original.frontends for b in fe.binds),
            ordered=ordered,
            timeout=timeout,
            progress=progress,
            explain=box.original,
        )
    observed.notes = box.notes
    if upstream in direct:
        observed.notes.append(
            f"upstream {upstream} is reached only under some locations; the sandbox sent "
            "the whole trace to it through a server block of its own"
        )
    # A PROXY line is sent where a listen demands it, but nginx balances on the
    # client it names only where realip is told to read it.
    observed.proxy_protocol = observed.proxy_protocol and any(
        d.name == "real_ip_header" and d.args[:1] == ("proxy_protocol",)
        for section in original.sections
        for d in section.directives
    )
    return observed, config
