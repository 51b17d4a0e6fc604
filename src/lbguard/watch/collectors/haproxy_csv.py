"""HAProxy's statistics as CSV: `show stat` on the stats socket, or the stats page's `;csv`.

Columns are found by name in the `# pxname,svname,...` header of every response,
never by position: HAProxy appends columns between versions (2.6 has 100+), and a
header-driven reader keeps working across them.
"""

from __future__ import annotations

import asyncio
import time

from lbguard.redact import redact_url
from lbguard.watch.collectors import CollectorError, fetch_text
from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot

_BACKEND = "1"
_SERVER = "2"
_RESPONSE_CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def _int(value: str) -> int:
    return int(value) if value and value.lstrip("-").isdigit() else 0


def _opt_int(value: str) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def parse_stat_csv(text: str, at: float | None = None, source: str = "") -> Snapshot:
    """Every backend and its servers from `show stat` output; `CollectorError` if it is not."""
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
    classes = [idx(c) for c in _RESPONSE_CLASSES]
    width = len(header) + 2
    servers: dict[str, list[ServerSample]] = {}
    backends: dict[str, tuple[str, str | None]] = {}
    for line in lines[1:]:
        if not line or line.startswith("#"):
            continue
        row = line.split(",")
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        name = row[sv]
        kind = row[ty] if ty is not None else ""
        if kind == _BACKEND or (not kind and name == "BACKEND"):
            backends[row[px]] = (row[st], row[algo] or None)
            continue
        if kind not in (_SERVER, "") or name in ("FRONTEND", "BACKEND"):
            continue
        try:
            sample = ServerSample(
                name,
                row[st],
                _int(row[wt]),
                _opt_int(row[uweight]),
                row[bck] == "1" and row[act] != "1",
                _int(row[lb]),
                _int(row[stot]),
                _int(row[scur]),
                _opt_int(row[slim]),
                _int(row[qcur]),
                _int(row[rate]),
                _opt_float(row[qtime]),
                _opt_float(row[rtime]),
                _opt_float(row[ttime]),
                _int(row[h5]),
                sum(_int(row[c]) for c in classes),
                _int(row[chkfail]),
                _opt_int(row[lastchg]),
                row[chk],
                _opt_int(row[throttle]),
            )
        except IndexError:
            raise CollectorError(f"HAProxy stats CSV row too short: {line[:60]!r}") from None
        servers.setdefault(row[px], []).append(sample)
    pools = {}
    for name in {**backends, **servers}:
        status, algorithm = backends.get(name, ("", None))
        pools[name] = PoolSample(name, tuple(servers.get(name, ())), status, algorithm)
    return Snapshot(time.monotonic() if at is None else at, pools, source)


def _opt_float(value: str) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class SocketStats:
    """`show stat` over HAProxy's stats socket (a `stats socket` line in `global`)."""

    def __init__(self, path: str, *, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self.source = f"unix:{path}"

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
        reader, writer = await asyncio.open_unix_connection(self.path, limit=1 << 20)
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
