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
_COMMA, _NEWLINE, _ZERO = 44, 10, 48
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
    status: list[str]
    numbers: dict[str, Ints]
    responses: Ints
    backup: Bools
    pool_status: tuple[str, ...]
    algorithm: tuple[str | None, ...]
    _text: str
    _check_spans: tuple[Ints, Ints]

    def __len__(self) -> int:
        return len(self.names)

    def sample(self, index: int) -> PoolSample:
        """The pool at `index` as the row reader would have built it."""
        lo, hi = int(self.start[index]), int(self.stop[index])
        n = {k: v[lo:hi].tolist() for k, v in self.numbers.items()}
        starts, ends = self._check_spans
        text = self._text
        checks = [
            text[a:b] for a, b in zip(starts[lo:hi].tolist(), ends[lo:hi].tolist(), strict=True)
        ]

        def opt(x: int) -> int | None:
            return None if x == NONE else x

        def optf(x: int) -> float | None:
            return None if x == NONE else float(x)

        servers = tuple(
            _new_server(
                self.names[lo + i],
                self.status[lo + i],
                max(n["weight"][i], 0),
                opt(n["uweight"][i]),
                bool(self.backup[lo + i]),
                max(n["lbtot"][i], 0),
                max(n["stot"][i], 0),
                max(n["scur"][i], 0),
                opt(n["slim"][i]),
                max(n["qcur"][i], 0),
                max(n["rate"][i], 0),
                optf(n["qtime"][i]),
                optf(n["rtime"][i]),
                optf(n["ttime"][i]),
                max(n["hrsp_5xx"][i], 0),
                int(self.responses[lo + i]),
                max(n["chkfail"][i], 0),
                opt(n["lastchg"][i]),
                checks[i],
                opt(n["throttle"][i]),
            )
            for i in range(hi - lo)
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
    if width == 0:
        return np.full(len(start), NONE, dtype=np.int64)
    if width > _MAX_DIGITS:
        return None
    offsets = np.arange(width)
    inside = offsets < length[:, None]
    where = np.minimum(start[:, None] + offsets, len(buf) - 1)
    digits = buf[where].astype(np.int64) - _ZERO
    if ((digits < 0) | (digits > 9))[inside].any():
        return None
    power = length[:, None] - 1 - offsets
    values = np.where(inside, digits * 10 ** np.maximum(power, 0), 0).sum(axis=1)
    return np.where(length == 0, NONE, values)


def read_columns(text: str) -> StatColumns | None:
    """`text` as columns, or None when only the row reader can read it exactly."""
    if not text.startswith("# ") or not text.isascii() or "\r" in text or '"' in text:
        return None
    raw = text.encode("ascii")
    buf = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    if len(newlines) == 0 or len(newlines) != raw.count(b"\n"):
        return None
    header = text[2 : int(newlines[0])].split(",")
    col = {name: i for i, name in enumerate(header) if name}
    if any(needed not in col for needed in ("pxname", "svname", "status", "weight", "lbtot")):
        return None  # the row reader names the missing column
    ends = np.append(newlines, len(raw))
    starts = np.append(0, newlines + 1)
    lengths = ends - starts
    data = np.flatnonzero(lengths > 0)[1:]
    if len(data) == 0 or raw.count(b"#") != 1:
        return None
    starts, ends = starts[data], ends[data]
    commas = np.flatnonzero(buf == _COMMA)
    per_row = len(header) - 1
    rows = len(starts)
    commas = commas[per_row:]
    if per_row == 0 or len(commas) != rows * per_row:
        return None
    grid = commas.reshape(rows, per_row)
    if (grid[:, 0] < starts).any() or (grid[:, -1] >= ends).any():
        return None

    def span(name: str) -> tuple[Ints, Ints]:
        i = col.get(name)
        if i is None:
            return ends, ends
        first = starts if i == 0 else grid[:, i - 1] + 1
        return first, (grid[:, i] if i < per_row else ends)

    def strings(name: str, rows_: Ints | slice = slice(None)) -> list[str]:
        a, b = span(name)
        return [text[x:y] for x, y in zip(a[rows_].tolist(), b[rows_].tolist(), strict=True)]

    px, sv = strings("pxname"), strings("svname")
    kind = _digits(buf, *span("type")) if "type" in col else np.full(rows, NONE, dtype=np.int64)
    if kind is None:
        return None
    is_backend_name = np.fromiter((s == "BACKEND" for s in sv), bool, rows)
    other_name = is_backend_name | np.fromiter((s == "FRONTEND" for s in sv), bool, rows)
    backend = (kind == 1) | ((kind == NONE) & is_backend_name)
    server = ~backend & ((kind == 2) | (kind == NONE)) & ~other_name
    # A cell the row reader keeps as text ("02" as type) would read differently here.
    type_len = span("type")[1] - span("type")[0]
    if (type_len > 1).any():
        return None
    rows_s = np.flatnonzero(server)
    backends: dict[str, tuple[str, str | None]] = {}
    b_index = np.flatnonzero(backend)
    status_b = strings("status", b_index)
    algo_b = strings("algo", b_index)
    for j, r in enumerate(b_index.tolist()):
        backends[px[r]] = (status_b[j], algo_b[j] or None)
    names = [sv[r] for r in rows_s.tolist()]
    pool_names = [px[r] for r in rows_s.tolist()]
    ids: dict[str, int] = {}
    pool_of = np.fromiter((ids.setdefault(p, len(ids)) for p in pool_names), np.int64, len(names))
    if len(pool_of) and not np.isin(np.diff(pool_of), (0, 1)).all():
        return None  # a pool's servers not next to each other: the row reader merges them
    numbers: dict[str, Ints] = {}
    for name in _NUMBERS:
        a, b = span(name)
        values = _digits(buf, a[rows_s], b[rows_s])
        if values is None:
            return None
        numbers[name] = values
    responses = np.zeros(len(rows_s), dtype=np.int64)
    for name in _RESPONSE_CLASSES:
        a, b = span(name)
        values = _digits(buf, a[rows_s], b[rows_s])
        if values is None:
            return None
        responses += np.maximum(values, 0)
    for flag in ("bck", "act"):
        a, b = span(flag)
        if ((b - a)[rows_s] > 1).any():
            return None
    backup = (numbers["bck"] == 1) & (numbers["act"] != 1)
    order = list(backends) + [p for p in ids if p not in backends]
    counts = np.bincount(pool_of, minlength=len(ids)) if len(ids) else np.zeros(0, np.int64)
    firsts = np.concatenate(([0], np.cumsum(counts)))
    start = np.array([firsts[ids[p]] if p in ids else 0 for p in order], dtype=np.int64)
    stop = np.array([firsts[ids[p] + 1] if p in ids else 0 for p in order], dtype=np.int64)
    index = {p: i for i, p in enumerate(order)}
    remap = np.array([index[p] for p in ids], dtype=np.int64)
    check = span("check_status")
    return StatColumns(
        tuple(order),
        start,
        stop,
        remap[pool_of] if len(pool_of) else pool_of,
        names,
        strings("status", rows_s),
        numbers,
        responses,
        backup,
        tuple(backends.get(p, ("", None))[0] for p in order),
        tuple(backends.get(p, ("", None))[1] for p in order),
        text,
        (check[0][rows_s], check[1][rows_s]),
    )


def columns_of(pools: Mapping[str, Any]) -> StatColumns | None:
    """The columns behind a snapshot's pools, if a column reader made them."""
    return pools.columns if isinstance(pools, ColumnPools) else None
