"""HAProxy's statistics as CSV: `show stat` on the stats socket, or the stats page's `;csv`.

Columns are found by name in the `# pxname,svname,...` header of every response,
never by position: HAProxy appends columns between versions (2.6 has 100+), and a
header-driven reader keeps working across them.
"""

from __future__ import annotations

import asyncio
import time
from operator import itemgetter

from lbguard.haproxy_runtime import parse_endpoint
from lbguard.model import positional_constructor
from lbguard.redact import redact_url
from lbguard.watch.collectors import CollectorError, fetch_text
from lbguard.watch.columns import ColumnPools, read_columns
from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot

_BACKEND = "1"
_SERVER = "2"
_RESPONSE_CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
_new_server = positional_constructor(ServerSample)


def parse_stat_csv(text: str, at: float | None = None, source: str = "") -> Snapshot:
    """Every backend and its servers from `show stat` output; `CollectorError` if it is not.

    Read into columns when the text allows it (`lbguard.watch.columns`), so the engine
    can judge a large fleet without an object per server; row by row otherwise.
    """
    columns = read_columns(text)
    if columns is not None:
        return Snapshot(time.monotonic() if at is None else at, ColumnPools(columns), source)
    return parse_stat_rows(text, at, source)


def parse_stat_rows(text: str, at: float | None = None, source: str = "") -> Snapshot:
    """`parse_stat_csv` one row at a time: reads any CSV HAProxy prints, and says what is wrong."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        first = lines[0][:60] if lines else "an empty response"
        raise CollectorError(f"not HAProxy stats CSV (starts with {first!r})")
    header = lines[0][2:].split(",")
    col = {name: i for i, name in enumerate(header) if name}
    for needed in ("pxname", "svname", "status", "weight", "lbtot"):
        if needed not in col:
            raise CollectorError(f"HAProxy stats CSV without a '{needed}' column")
    px, sv, st, wt, lb = col["pxname"], col["svname"], col["status"], col["weight"], col["lbtot"]
    ty = col.get("type")

    def idx(name: str) -> int:
        # A column this HAProxy does not have reads as an empty cell (past the row's end).
        return col.get(name, len(header) + 1)

    act, bck, stot, scur, slim = idx("act"), idx("bck"), idx("stot"), idx("scur"), idx("slim")
    qcur, rate, qtime, rtime, ttime = (
        idx("qcur"),
        idx("rate"),
        idx("qtime"),
        idx("rtime"),
        idx("ttime"),
    )
    h5, chkfail, lastchg, chk, throttle = (
        idx("hrsp_5xx"),
        idx("chkfail"),
        idx("lastchg"),
        idx("check_status"),
        idx("throttle"),
    )
    uweight, algo = idx("uweight"), idx("algo")
    c1, c2, c3, c4, c5, c6 = (idx(c) for c in _RESPONSE_CLASSES)
    width = len(header) + 2
    # One C-level call per row picks every field a server needs (20k rows per poll).
    pick = itemgetter(
        px, sv, ty if ty is not None else width - 1, st, wt, uweight, bck, act, lb, stot, scur,
        slim, qcur, rate, qtime, rtime, ttime, h5, chkfail, lastchg, chk, throttle,
        c1, c2, c3, c4, c5, c6,
    )  # fmt: skip
    servers: dict[str, list[ServerSample]] = {}
    backends: dict[str, tuple[str, str | None]] = {}
    new = _new_server
    pad = [""] * width
    for line in lines[1:]:
        if not line or line[0] == "#":
            continue
        row = line.split(",")
        if len(row) < width:
            row.extend(pad[: width - len(row)])
        (
            pool, name, kind, status, w, uw, b, a, n, so, sc, sl, q, r, qt, rt, tt, e5, cf, lc,
            chk_status, thr, r1, r2, r3, r4, r5, r6,
        ) = pick(row)  # fmt: skip
        if kind == _BACKEND or (not kind and name == "BACKEND"):
            backends[pool] = (status, row[algo] or None)
            continue
        if kind not in (_SERVER, "") or name in ("FRONTEND", "BACKEND"):
            continue
        try:
            sample = new(
                name,
                status,
                int(w) if w else 0,
                int(uw) if uw else None,
                b == "1" and a != "1",
                int(n) if n else 0,
                int(so) if so else 0,
                int(sc) if sc else 0,
                int(sl) if sl else None,
                int(q) if q else 0,
                int(r) if r else 0,
                float(qt) if qt else None,
                float(rt) if rt else None,
                float(tt) if tt else None,
                int(e5) if e5 else 0,
                sum(int(x) for x in (r1, r2, r3, r4, r5, r6) if x),
                int(cf) if cf else 0,
                int(lc) if lc else None,
                chk_status,
                int(thr) if thr else None,
            )
        except ValueError:
            raise CollectorError(f"HAProxy stats CSV with a non-number: {line[:60]!r}") from None
        servers.setdefault(pool, []).append(sample)
    pools = {}
    for name in {**backends, **servers}:
        status, algorithm = backends.get(name, ("", None))
        pools[name] = PoolSample(name, tuple(servers.get(name, ())), status, algorithm)
    return Snapshot(time.monotonic() if at is None else at, pools, source)


class SocketStats:
    """`show stat` over HAProxy's stats socket (a `stats socket` line in `global`), on a
    unix path or on TCP (`stats socket ipv4@127.0.0.1:9999`)."""

    def __init__(self, spec: str, *, timeout: float = 5.0) -> None:
        self.endpoint = parse_endpoint(spec)
        self.timeout = timeout
        self.source = str(self.endpoint)

    async def collect(self) -> Snapshot:
        try:
            text = await asyncio.wait_for(self._read(), self.timeout)
        except TimeoutError:
            raise CollectorError(f"no answer within {self.timeout:g} s") from None
        except FileNotFoundError:
            raise CollectorError("the socket does not exist") from None
        except ConnectionRefusedError:
            raise CollectorError("connection refused (is haproxy running?)") from None
        except PermissionError:
            raise CollectorError("permission denied on the socket") from None
        except OSError as exc:
            raise CollectorError(exc.strerror or str(exc)) from None
        return parse_stat_csv(text, source=self.source)

    async def _read(self) -> str:
        if self.endpoint.path is not None:
            reader, writer = await asyncio.open_unix_connection(self.endpoint.path, limit=1 << 20)
        else:
            reader, writer = await asyncio.open_connection(
                self.endpoint.host, self.endpoint.port, limit=1 << 20
            )
        try:
            writer.write(b"show stat\n")
            await writer.drain()
            data = await reader.read()
        finally:
            writer.close()
        return data.decode("utf-8", "replace")

    async def close(self) -> None:
        return None


class HttpStats:
    """The HTTP stats page (`stats uri`), read as CSV by appending `;csv`."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        import httpx

        self.url = url if ";csv" in url else url.rstrip("/") + ";csv"
        self.source = redact_url(url)
        self._client = httpx.AsyncClient(timeout=timeout)
        self.timeout = timeout

    async def collect(self) -> Snapshot:
        text = await fetch_text(self._client, self.url, self.timeout, "the stats page")
        return parse_stat_csv(text, source=self.source)

    async def close(self) -> None:
        await self._client.aclose()
