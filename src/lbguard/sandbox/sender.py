"""The sandbox's load generator: a trace sent to the balancer, every answer attributed.

Each request leaves from its client's own 127.x.y.z address, so a connection can only
carry requests of one client. The balancer picks a server for every request of a
keep-alive HTTP connection (HAProxy and nginx alike, see algorithms.md), so requests
of one client share a connection, several of them in flight at once (HTTP/1.1
pipelining), and many connections run side by side, in one or more forked
processes. That is what takes the sandbox past 10,000 requests a second on two
cores; a fresh connection per request, one at a time, stopped near 2,500.

Which server answered is read from each response's `X-Lbguard-Server` header, so
attribution is exact whatever the interleaving. Two things do depend on it:

- the request-by-request order of a round robin (its counts do not change), and any
  algorithm that looks at what is in flight (`leastconn`, `least_conn`, `random`,
  a `maxconn` that concurrency could reach; see `run.needs_order`).
  `ordered=True` sends one request at a time in trace order, as the model assumes;
- balancing per connection (`mode tcp`, nginx `stream`): `per_connection=True` opens
  one connection per request, and closes it after the answer.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import select
import signal
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lbguard.errors import LbguardError
from lbguard.simulate.traffic import Request

# Result codes per request, in a shared array of unsigned shorts (one per request):
NOT_SENT = 0
FAILED = 1
FIRST_STUB = 2  # FIRST_STUB + i: answered by stub i of `stub_names`

_HEADER = b"\r\nx-lbguard-server:"


@dataclass(frozen=True)
class Plan:
    """What to send where: one connection key per request, and its bytes."""

    port: int
    stub_names: Sequence[str]
    # Per request: the source address to bind and, with the PROXY protocol, the
    # client address the PROXY line names (else "").
    sources: Sequence[str]
    proxied: Sequence[str]
    payloads: Sequence[bytes]
    per_connection: bool = False
    ordered: bool = False
    # How many requests one connection may have in flight, and how many
    # connections run at once per process.
    depth: int = 16
    lanes: int = 24
    processes: int = 1
    request_timeout: float = 5.0
    tls: bool = False  # the listener speaks TLS (a certificate made for the sandbox)


def encode(req: Request, close: bool) -> bytes:
    """The request as bytes on the wire; HTTP/1.1 keeps the connection unless `close`."""
    head = f"GET {req.uri} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers)
    return (head + ("Connection: close\r\n\r\n" if close else "\r\n")).encode()


def plan_for(
    port: int,
    stub_names: Sequence[str],
    requests: Sequence[Request],
    *,
    proxy_protocol: bool,
    per_connection: bool,
    ordered: bool,
    processes: int | None = None,
    tls: bool = False,
) -> Plan:
    """The sending plan for a trace already mapped to loopback clients."""
    if len(stub_names) + FIRST_STUB > 0xFFFF:
        raise LbguardError(f"verify handles up to {0xFFFF - FIRST_STUB} servers at once")
    sources = [r.client for r in requests]
    proxied = (
        [r.header("X-Forwarded-For") or r.client for r in requests]
        if proxy_protocol
        else [""] * len(requests)
    )
    payloads = [encode(r, per_connection) for r in requests]
    if processes is None:
        # Half the cores send, the other half run the balancer and its stubs: on two
        # cores one sending process is fastest, as the balancer is then the bottleneck
        # (benchmarks/verify.py).
        processes = 1 if ordered else max(1, min(4, (os.cpu_count() or 1) // 2))
    return Plan(
        port,
        stub_names,
        sources,
        proxied,
        payloads,
        per_connection=per_connection,
        ordered=ordered,
        processes=processes,
        tls=tls,
    )


def _groups(plan: Plan) -> list[list[int]]:
    """Request indices that may share one connection, in the order they are sent.

    Ordered: maximal runs of consecutive requests from one client. Otherwise every
    request of a client, in trace order, cut into pieces so that one busy client
    (all traffic behind one proxy address) still spreads over many connections.
    """
    n = len(plan.payloads)
    if plan.per_connection:
        return [[i] for i in range(n)]
    if plan.ordered:
        runs: list[list[int]] = []
        last: tuple[str, str] | None = None
        for i in range(n):
            key = (plan.sources[i], plan.proxied[i])
            if key != last:
                runs.append([])
                last = key
            runs[-1].append(i)
        return runs
    by_key: dict[tuple[str, str], list[int]] = {}
    for i in range(n):
        by_key.setdefault((plan.sources[i], plan.proxied[i]), []).append(i)
    piece = 256
    return [ids[j : j + piece] for ids in by_key.values() for j in range(0, len(ids), piece)]


def _parse(buf: bytearray, pos: int) -> tuple[int, bytes | None, bool] | None:
    """One complete response at `pos`: (end, server header or None, connection closes).

    None while the response is incomplete.
    """
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0:
        return None
    head = bytes(buf[pos:end]).lower()
    who: bytes | None = None
    at = head.find(_HEADER)
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        who = bytes(buf[pos + at + len(_HEADER) : pos + (stop if stop >= 0 else len(head))])
        who = who.strip()
    close = b"\r\nconnection: close" in head or head.startswith(b"http/1.0")
    body = end + 4
    if b"\r\ntransfer-encoding: chunked" in head:
        while True:
            line_end = buf.find(b"\r\n", body)
            if line_end < 0:
                return None
            size = int(bytes(buf[body:line_end]).split(b";", 1)[0], 16)
            body = line_end + 2 + size + 2
            if len(buf) < body:
                return None
            if size == 0:
                return body, who, close
    at = head.find(b"\r\ncontent-length:")
    length = 0
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
    if len(buf) < body + length:
        return None
    return body + length, who, close


class _Conn:
    """One client connection: a group's requests, up to `depth` of them in flight."""

    __slots__ = (
        "buf",
        "closing",
        "connecting",
        "group",
        "handshaking",
        "inflight",
        "last",
        "out",
        "sock",
    )

    def __init__(self, sock: socket.socket, group: deque[int], now: float) -> None:
        self.sock = sock
        self.group = group
        self.inflight: deque[int] = deque()
        self.buf = bytearray()
        self.out = b""
        self.connecting = True
        self.handshaking = False
        self.closing = False
        self.last = now


class _Sender:
    """One process's share of the traffic, on a bare epoll loop.

    A bare loop rather than asyncio: per request it costs a fraction of the
    coroutine and callback machinery, and the sender's CPU is CPU the balancer
    under test does not get on a two-core machine.
    """

    def __init__(
        self,
        plan: Plan,
        groups: list[list[int]],
        results: memoryview,
        deadline: float,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.plan = plan
        self.progress = progress
        self.sent = 0
        self.queue = deque(deque(g) for g in groups)
        self.results = results
        self.deadline = deadline
        self.codes = {name.encode(): FIRST_STUB + k for k, name in enumerate(plan.stub_names)}
        self.depth = 1 if plan.ordered or plan.per_connection else plan.depth
        self.lanes = 1 if plan.ordered else plan.lanes
        self.poll = select.epoll()
        self.conns: dict[int, _Conn] = {}
        self.tls: ssl.SSLContext | None = None
        if plan.tls:
            # The sandbox made the certificate itself: nothing to verify it against.
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.tls.check_hostname = False
            self.tls.verify_mode = ssl.CERT_NONE
            self.tls.set_alpn_protocols(["http/1.1"])
            # Full handshakes cost ~1.5 ms of client CPU each (OpenSSL 3 decoding the
            # certificate); TLS 1.2 sessions resume without it.
            self.tls.maximum_version = ssl.TLSVersion.TLSv1_2
        self.session: ssl.SSLSession | None = None

    def run(self) -> None:
        try:
            self._loop()
        finally:
            for conn in list(self.conns.values()):
                self._fail_inflight(conn)
                self._drop(conn)
            self.poll.close()

    def _loop(self) -> None:
        plan = self.plan
        next_check = time.monotonic() + 0.25
        while True:
            now = time.monotonic()
            while len(self.conns) < self.lanes and self.queue and now < self.deadline:
                self._open(self.queue.popleft(), now)
            if not self.conns:
                return
            for fd, events in self.poll.poll(0.25):
                conn = self.conns.get(fd)
                if conn is not None:
                    self._event(conn, events)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.25
                if self.progress is not None:
                    self.progress(self.sent)
                for conn in list(self.conns.values()):
                    if now - conn.last > plan.request_timeout:
                        # No answer in time: what is in flight failed; the rest of
                        # the group goes on a new connection.
                        self._fail_inflight(conn)
                        self._finish(conn)

    def _open(self, group: deque[int], now: float) -> None:
        plan = self.plan
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.bind((plan.sources[group[0]], 0))
            err = sock.connect_ex(("127.0.0.1", plan.port))
        except OSError:
            sock.close()
            self.results[group.popleft()] = FAILED
            if group:
                self.queue.appendleft(group)
            return
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.results[group.popleft()] = FAILED
            if group:
                self.queue.appendleft(group)
            return
        conn = _Conn(sock, group, now)
        self.conns[sock.fileno()] = conn
        self.poll.register(sock.fileno(), select.EPOLLOUT)

    def _event(self, conn: _Conn, events: int) -> None:
        conn.last = time.monotonic()
        if conn.connecting:
            if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                # Refused or reset before anything was sent: that request failed.
                self.results[conn.group.popleft()] = FAILED
                self._finish(conn)
                return
            conn.connecting = False
            lead = b""
            first = conn.group[0]
            if self.plan.proxied[first]:
                # A PROXY protocol v1 line carrying the real client, as a proxy in
                # front of the balancer would send it.
                sport = conn.sock.getsockname()[1]
                client = self.plan.proxied[first]
                lead = f"PROXY TCP4 {client} 127.0.0.1 {sport} {self.plan.port}\r\n".encode()
            if self.tls is not None:
                # The PROXY line goes before the TLS handshake, in the clear.
                if lead and conn.sock.send(lead) != len(lead):
                    self.results[conn.group.popleft()] = FAILED
                    self._finish(conn)
                    return
                conn.sock = self.tls.wrap_socket(
                    conn.sock, do_handshake_on_connect=False, session=self.session
                )
                conn.handshaking = True
                self._handshake(conn)
                return
            self.poll.modify(conn.sock.fileno(), select.EPOLLIN)
            self._send(conn, lead)
            return
        if conn.handshaking:
            self._handshake(conn)
            return
        if events & select.EPOLLOUT and conn.out:
            self._write(conn, conn.out)
        if not events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
            return
        try:
            data = conn.sock.recv(262144)
            if isinstance(conn.sock, ssl.SSLSocket):
                # Decrypted bytes OpenSSL holds do not make the socket readable.
                while data and (more := conn.sock.pending()):
                    data += conn.sock.recv(more)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if not data:
            # Closed with requests in flight: the balancer may or may not have chosen
            # a server for them, so they count as failed rather than being resent.
            self._fail_inflight(conn)
            self._finish(conn)
            return
        conn.buf += data
        pos = 0
        results = self.results
        codes = self.codes
        inflight = conn.inflight
        while inflight:
            try:
                parsed = _parse(conn.buf, pos)
            except ValueError:
                # Not HTTP as lbguard sends it back: nothing more on this connection
                # can be attributed.
                self._fail_inflight(conn)
                self._finish(conn)
                return
            if parsed is None:
                break
            pos, who, close = parsed
            results[inflight.popleft()] = FAILED if who is None else codes.get(who, FAILED)
            if close:
                # The balancer reads nothing more here: what was sent after this
                # response was never read, so it goes on a new connection.
                conn.group.extendleft(reversed(inflight))
                inflight.clear()
                conn.closing = True
                break
        if pos:
            del conn.buf[:pos]
        if conn.closing:
            self._finish(conn)
        else:
            self._send(conn)

    def _send(self, conn: _Conn, lead: bytes = b"") -> None:
        if conn.out:
            return
        plan = self.plan
        out = [lead] if lead else []
        group, inflight = conn.group, conn.inflight
        if time.monotonic() < self.deadline:
            payloads = plan.payloads
            while group and len(inflight) < self.depth:
                i = group.popleft()
                inflight.append(i)
                out.append(payloads[i])
                self.sent += 1
        if out:
            self._write(conn, b"".join(out))
        elif not inflight:
            self._finish(conn)

    def _handshake(self, conn: _Conn) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self.poll.modify(sock.fileno(), select.EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self.poll.modify(sock.fileno(), select.EPOLLOUT)
            return
        except OSError:
            # Refused before any request went through: that request failed.
            self.results[conn.group.popleft()] = FAILED
            self._finish(conn)
            return
        conn.handshaking = False
        if self.session is None:
            self.session = sock.session
        self.poll.modify(sock.fileno(), select.EPOLLIN)
        self._send(conn)

    def _write(self, conn: _Conn, data: bytes) -> None:
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            sent = 0
        except OSError:
            self._fail_inflight(conn)
            self._finish(conn)
            return
        conn.out = data[sent:]
        mask = select.EPOLLIN | (select.EPOLLOUT if conn.out else 0)
        self.poll.modify(conn.sock.fileno(), mask)

    def _fail_inflight(self, conn: _Conn) -> None:
        for i in conn.inflight:
            self.results[i] = FAILED
        conn.inflight.clear()

    def _finish(self, conn: _Conn) -> None:
        """Close the connection; what is left of its group waits for the next one."""
        self._drop(conn)
        if conn.group and time.monotonic() < self.deadline:
            self.queue.appendleft(conn.group)

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if self.conns.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self.poll.unregister(fd)
        conn.sock.close()


def send(
    plan: Plan,
    timeout: float,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """Send every request of `plan` within `timeout` seconds; one result code each.

    Requests are spread over `plan.processes` forked processes, each with its own
    event loop and its own clients; results come back through shared memory.
    """
    if not hasattr(select, "epoll"):
        raise LbguardError(
            "verify runs on Linux only: it sends from many 127.x.y.z addresses, which "
            "other systems do not route without setup"
        )
    groups = _groups(plan)
    n = len(plan.payloads)
    deadline = time.monotonic() + timeout
    shared = mmap.mmap(-1, max(2 * n, 2))
    results = memoryview(shared).cast("H")
    try:
        # fork() beside threads can deadlock the child; the sender then stays in-process.
        if plan.processes <= 1 or len(groups) < 2 or threading.active_count() > 1:
            _Sender(plan, groups, results, deadline, progress).run()
        else:
            _send_forked(plan, groups, results, deadline, progress)
        codes = list(results[:n])
    finally:
        results.release()
        shared.close()
    if progress is not None:
        progress(sum(1 for c in codes if c != NOT_SENT))
    return codes


def _send_forked(
    plan: Plan,
    groups: list[list[int]],
    results: memoryview,
    deadline: float,
    progress: Callable[[int], None] | None,
) -> None:
    shares: list[list[list[int]]] = [[] for _ in range(plan.processes)]
    for k, group in enumerate(groups):
        shares[k % plan.processes].append(group)
    pids = []
    try:
        for share in shares:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 0
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    _Sender(plan, share, results, deadline).run()
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            pids.append(pid)
        hard_stop = deadline + plan.request_timeout + 5
        while pids:
            for pid in list(pids):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    pids.remove(pid)
            if pids:
                if progress is not None:
                    progress(sum(1 for c in results if c != NOT_SENT))
                if time.monotonic() > hard_stop:
                    break
                time.sleep(0.05)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def count_sent(codes: Sequence[int]) -> int:
    return sum(1 for c in codes if c != NOT_SENT)
