"""HAProxy's `show stat` read into one numpy array per field, not one object per server.

A fleet of 1,000 backends x 20 servers is 20,000 rows of 100+ columns on every poll.
Splitting every row into Python strings and building a `ServerSample` per server
costs more than the whole poll may take, so this reader finds the commas of the whole
response at once with numpy, decodes only the columns that detection reads, and builds
`ServerSample`s lazily, for the few pools someone asks about (`ColumnPools`).

It only accepts what it can read exactly like the row-by-row reader
(`lbguard.watch.collectors.haproxy_csv`): plain ASCII, one header, every row as wide
as the header, numbers made of digits. Anything else (quoted fields, negative numbers,
a header repeated by several processes) returns None, and the row reader takes over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lbguard.model import positional_constructor
from lbguard.watch.snapshot import PoolSample, ServerSample

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

NONE = -1  # an empty numeric cell (HAProxy prints only non-negative digits)
_COMMA, _NEWLINE, _ZERO, _HASH = 44, 10, 48, 35
_MAX_DIGITS = 18  # still exact in int64
_RESPONSE_CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
_NUMBERS = (
    "weight", "uweight", "bck", "act", "lbtot", "stot", "scur", "slim", "qcur", "rate",
    "qtime", "rtime", "ttime", "hrsp_5xx", "chkfail", "lastchg", "throttle",
)  # fmt: skip
_new_server = positional_constructor(ServerSample)


@dataclass(frozen=True, eq=False)
class StatColumns:
    """Server rows of one `show stat`, grouped by pool, one array per field.

    `pools` lists every pool in the order the row reader gives them; `start`/`stop`
    bound each pool's rows (pools without servers have start == stop). Numeric cells
    that were empty hold `NONE`.
    """

    pools: tuple[str, ...]
    start: Ints
    stop: Ints
    pool_of: Ints  # per server row: index into `pools`
    names: list[str]
    flags: dict[str, Bools]  # up, serving, drain, drain_or_nolb, maint: see `_status_flags`
    numbers: dict[str, Ints]
    responses: Ints
    backup: Bools
    pool_status: tuple[str, ...]
    algorithm: tuple[str | None, ...]
    _text: str
    _check_spans: tuple[Ints, Ints]
    _status_spans: tuple[Ints, Ints]

    def __len__(self) -> int:
        return len(self.names)

    def sample(self, index: int) -> PoolSample:
        """The pool at `index` as the row reader would have built it."""
        lo, hi = int(self.start[index]), int(self.stop[index])
        nums = self.numbers

        def count(name: str) -> list[int]:  # an empty counter cell reads as 0
            return np.maximum(nums[name][lo:hi], 0).tolist()  # type: ignore[no-any-return]

        def optional(name: str, kind: type = int) -> list[Any]:  # empty reads as None
            values = nums[name][lo:hi]
            out = values.astype(np.float64 if kind is float else np.int64).tolist()
            if (values == NONE).any():
                out = [None if v == NONE else out[k] for k, v in enumerate(values.tolist())]
            return out  # type: ignore[no-any-return]

        servers = tuple(
            map(
                _new_server,
                self.names[lo:hi],
                _slices(self._text, self._status_spans[0][lo:hi], self._status_spans[1][lo:hi]),
                count("weight"),
                optional("uweight"),
                self.backup[lo:hi].tolist(),
                count("lbtot"),
                count("stot"),
                count("scur"),
                optional("slim"),
                count("qcur"),
                count("rate"),
                optional("qtime", float),
                optional("rtime", float),
                optional("ttime", float),
                count("hrsp_5xx"),
                self.responses[lo:hi].tolist(),
                count("chkfail"),
                optional("lastchg"),
                _slices(self._text, self._check_spans[0][lo:hi], self._check_spans[1][lo:hi]),
                optional("throttle"),
            )
        )
        return PoolSample(
            self.pools[index], servers, self.pool_status[index], self.algorithm[index]
        )

    def value(self, name: str) -> Ints:
        """A numeric column with empty cells read as 0, as counters are."""
        v = self.numbers[name]
        return np.where(v == NONE, 0, v)


class ColumnPools(Mapping[str, PoolSample]):
    """`Snapshot.pools` over columns: a `PoolSample` is built the first time it is read."""

    def __init__(self, columns: StatColumns) -> None:
        self.columns = columns
        self._index = {name: i for i, name in enumerate(columns.pools)}
        self._built: dict[str, PoolSample] = {}

    def __getitem__(self, name: str) -> PoolSample:
        sample = self._built.get(name)
        if sample is None:
            sample = self._built[name] = self.columns.sample(self._index[name])
        return sample

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns.pools)

    def __len__(self) -> int:
        return len(self.columns.pools)

    def __contains__(self, name: object) -> bool:
        return name in self._index


def _digits(buf: npt.NDArray[np.uint8], start: Ints, end: Ints) -> Ints | None:
    """Each span of `buf` read as a non-negative integer (`NONE` if empty); None if not digits."""
    length = end - start
    width = int(length.max()) if len(length) else 0
    if width > _MAX_DIGITS:
        return None
    values = np.zeros(len(start), dtype=np.int64)
    bad = np.zeros(len(start), dtype=bool)
    for k in range(width):  # Horner, one digit position of every cell at a time
        digit = buf[start + k] - np.uint8(_ZERO)  # past a span's end: any byte, unused
        inside = k < length
        bad |= inside & (digit > 9)
        values = np.where(inside, values * 10 + digit, values)
    if bad.any():
        return None
    values[length == 0] = NONE
    return values


def _slices(text: str, start: Ints, end: Ints) -> list[str]:
    return list(map(text.__getitem__, map(slice, start.tolist(), end.tolist())))


def _bytes(buf: npt.NDArray[np.uint8], start: Ints, end: Ints, width: int) -> npt.NDArray[np.uint8]:
    """The first `width` bytes of each span, zero past its end."""
    offsets = np.arange(width)
    out: npt.NDArray[np.uint8] = buf[start[:, None] + offsets]
    out[offsets >= (end - start)[:, None]] = 0
    return out


def _status_flags(buf: npt.NDArray[np.uint8], start: Ints, end: Ints) -> dict[str, Bools]:
    """`lbguard.watch.snapshot`'s status tests, on the bytes of each status cell."""
    cells = _bytes(buf, start, end, 8)
    length = end - start

    def starts(word: bytes) -> Bools:
        head = cells[:, : len(word)] == np.frombuffer(word, dtype=np.uint8)
        out: Bools = (length >= len(word)) & head.all(axis=1)
        return out

    def equals(word: bytes) -> Bools:
        out: Bools = starts(word) & (length == len(word))
        return out

    drain, up_like, serving = equals(b"DRAIN"), starts(b"UP"), starts(b"no check")
    serving = up_like | serving
    return {
        "up": serving | starts(b"NOLB") | drain,
        "serving": serving,
        "drain": drain,
        "drain_or_nolb": drain | equals(b"NOLB"),
        "maint": starts(b"MAINT"),
    }


def read_columns(text: str) -> StatColumns | None:
    """`text` as columns, or None when only the row reader can read it exactly."""
    if not text.startswith("# ") or not text.isascii() or "\r" in text or '"' in text:
        return None
    raw = text.encode("ascii")
    # Padded so that a span's last digits can be read a few bytes past the text's end.
    buf = np.frombuffer(raw + bytes(_MAX_DIGITS), dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    if len(newlines) == 0:
        return None
    header = text[2 : int(newlines[0])].split(",")
    col = {name: i for i, name in enumerate(header) if name}
    if any(needed not in col for needed in ("pxname", "svname", "status", "weight", "lbtot")):
        return None  # the row reader names the missing column
    ends = np.append(newlines, len(raw))
    starts = np.append(0, newlines + 1)
    data = np.flatnonzero(ends > starts)[1:]
    starts, ends = starts[data], ends[data]
    if len(data) == 0 or (buf[starts] == _HASH).any():
        return None
    commas = np.flatnonzero(buf == _COMMA)
    per_row = len(header) - 1
    rows = len(starts)
    commas = commas[per_row:]
    if per_row == 0 or len(commas) != rows * per_row:
        return None
    grid = commas.reshape(rows, per_row)
    if (grid[:, 0] < starts).any() or (grid[:, -1] >= ends).any():
        return None
    texts = ("pxname", "svname", "status", "type", "algo", "check_status")
    wanted: list[str] = [n for n in texts if n in col]
    wanted += [n for n in (*_NUMBERS, *_RESPONSE_CLASSES) if n in col]
    index = np.array([col[n] for n in wanted], dtype=np.int64)
    # Field i runs from just after comma i-1 (the line start for i = 0) to comma i (the
    # line end for the last field): one gather for every wanted column.
    firsts = grid[:, np.maximum(index - 1, 0)] + 1
    lasts = grid[:, np.minimum(index, per_row - 1)]
    firsts[:, index == 0] = starts[:, None]
    lasts[:, index == per_row] = ends[:, None]
    at = {n: k for k, n in enumerate(wanted)}

    def span(name: str, rows_: Ints) -> tuple[Ints, Ints]:
        k = at.get(name)
        if k is None:
            return ends[rows_], ends[rows_]
        return firsts[rows_, k], lasts[rows_, k]

    every = np.arange(rows)
    a, b = span("type", every)
    if ((b - a) > 1).any():
        return None  # a type the row reader keeps as text ("02")
    kind = _digits(buf, a, b)
    if kind is None:
        return None
    untyped = np.flatnonzero(kind == NONE)
    sv_untyped = _slices(text, *span("svname", untyped))
    is_backend = np.zeros(rows, dtype=bool)
    is_other = np.zeros(rows, dtype=bool)
    is_backend[untyped] = [s == "BACKEND" for s in sv_untyped]
    is_other[untyped] = [s in ("BACKEND", "FRONTEND") for s in sv_untyped]
    backend = (kind == 1) | is_backend
    server = (kind == 2) | ((kind == NONE) & ~is_other)
    rows_s = np.flatnonzero(server)
    names = _slices(text, *span("svname", rows_s))
    if (kind == 2).any() and {"FRONTEND", "BACKEND"} & set(names):
        return None  # a server row named like a summary row: the row reader skips it
    b_index = np.flatnonzero(backend)
    backends: dict[str, tuple[str, str | None]] = {}
    for pool, status, algo in zip(
        _slices(text, *span("pxname", b_index)),
        _slices(text, *span("status", b_index)),
        _slices(text, *span("algo", b_index)),
        strict=True,
    ):
        backends[pool] = (status, algo or None)
    # A pool's servers are consecutive rows; a pool seen again later is not (the row
    # reader would merge it), and goes to the row reader.
    n = len(names)
    pa, pb = span("pxname", rows_s)
    plen = pb - pa
    pool_bytes = _bytes(buf, pa, pb, int(plen.max()) if n else 0)
    same = (plen[1:] == plen[:-1]) & (pool_bytes[1:] == pool_bytes[:-1]).all(axis=1)
    firsts_s = (
        np.append(0, np.flatnonzero(~same) + 1).astype(np.int64) if n else np.zeros(0, np.int64)
    )
    seen = _slices(text, pa[firsts_s], pb[firsts_s])
    if len(set(seen)) != len(seen):
        return None
    numbers: dict[str, Ints] = {}
    for name in _NUMBERS:
        values = _digits(buf, *span(name, rows_s))
        if values is None:
            return None
        numbers[name] = values
    responses = np.zeros(n, dtype=np.int64)
    for name in _RESPONSE_CLASSES:
        values = _digits(buf, *span(name, rows_s))
        if values is None:
            return None
        responses += np.maximum(values, 0)
    for flag in ("bck", "act"):
        a, b = span(flag, rows_s)
        if ((b - a) > 1).any():
            return None
    backup = (numbers["bck"] == 1) & (numbers["act"] != 1)
    order = list(backends) + [p for p in seen if p not in backends]
    where = {p: i for i, p in enumerate(order)}
    segment_stops = np.append(firsts_s[1:], n).astype(np.int64)
    start = np.zeros(len(order), dtype=np.int64)
    stop = np.zeros(len(order), dtype=np.int64)
    seg_pool = np.array([where[p] for p in seen], dtype=np.int64)
    start[seg_pool], stop[seg_pool] = firsts_s, segment_stops
    pool_of = np.repeat(seg_pool, segment_stops - firsts_s)
    return StatColumns(
        tuple(order),
        start,
        stop,
        pool_of,
        names,
        _status_flags(buf, *span("status", rows_s)),
        numbers,
        responses,
        backup,
        tuple(backends.get(p, ("", None))[0] for p in order),
        tuple(backends.get(p, ("", None))[1] for p in order),
        text,
        span("check_status", rows_s),
        span("status", rows_s),
    )


def columns_of(pools: Mapping[str, Any]) -> StatColumns | None:
    """The columns behind a snapshot's pools, if a column reader made them."""
    return pools.columns if isinstance(pools, ColumnPools) else None
