"""nginx open source keeps no per-upstream counters: its access log is the statistics.

The log format must carry `$upstream_addr`, `$upstream_status` and
`$upstream_response_time` after the `combined` fields, quoted or not, with or without
a `name=` prefix, in that order (see docs/watch.md for a ready `log_format`). A request
that nginx retried on another server logs every attempt, `"a, b"` (and `"a : b"` after
an internal redirect); each attempt counts as one pick of its server, as HAProxy's
`lbtot` counts them. The file is tailed from its end: rotation (a new inode at the
path) finishes the old file and then starts the new one from its beginning, and
truncation (`copytruncate`) starts over from offset 0.

`lbguard.accesslog` reads whole logs column-wise with polars for `simulate`; a tail
needs line-at-a-time parsing of only what was appended, so it has its own small parser.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass, field

from lbguard.model import Config, Pool
from lbguard.util import is_digits
from lbguard.watch.collectors import CollectorError
from lbguard.watch.collectors.configfile import ConfigFile
from lbguard.watch.snapshot import PoolSample, ServerSample, Snapshot

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_COMBINED = re.compile(
    rf"^\S+ \S+ \S+ \[[^\]]+\] {_QUOTED} \d{{3}} \S+ {_QUOTED} {_QUOTED}(?P<rest>.*)$"
)
_STATUS = re.compile(r"\d{3}|-")
_SECONDS = re.compile(r"\d+(?:\.\d+)?|-")
_KEY = re.compile(r"^[A-Za-z_]\w*=")
MAX_READ = 64 << 20  # bytes per poll; the rest waits for the next poll


@dataclass(frozen=True, slots=True)
class Attempt:
    address: str
    status: int | None
    seconds: float | None


def _groups(rest: str) -> list[list[str]]:
    """The upstream fields as lists of values, each list one `$variable`'s attempts."""
    tokens = rest.replace(" : ", ", ").split()
    groups: list[list[str]] = []
    joining = False
    for raw in tokens:
        token = _KEY.sub("", raw).strip('"')
        if not token:
            continue
        more = token.endswith(",")
        token = token.rstrip(",")
        if joining and groups:
            groups[-1].append(token)
        else:
            groups.append([token] if token else [])
        joining = more
    return [g for g in groups if g]


def parse_line(line: str) -> list[Attempt] | None:
    """The upstream attempts of one access-log line; None when it has no upstream part."""
    m = _COMBINED.match(line)
    if m is None:
        return None
    addresses: list[str] | None = None
    statuses: list[str] | None = None
    seconds: list[str] | None = None
    for group in _groups(m.group("rest")):
        if addresses is None:
            if all(":" in v or v == "-" for v in group) and any(":" in v for v in group):
                addresses = group
            continue
        if statuses is None and all(_STATUS.fullmatch(v) for v in group):
            statuses = group
        elif seconds is None and all(_SECONDS.fullmatch(v) for v in group):
            seconds = group
    if addresses is None:
        return None
    out = []
    for i, address in enumerate(addresses):
        if address == "-" or not address:
            continue
        status = statuses[i] if statuses and i < len(statuses) else "-"
        took = seconds[i] if seconds and i < len(seconds) else "-"
        out.append(
            Attempt(
                address,
                int(status) if is_digits(status) else None,
                float(took) if took != "-" else None,
            )
        )
    return out


def _addresses(pool: Pool) -> dict[str, str]:
    """How each server of an upstream appears in `$upstream_addr` -> its name."""
    out: dict[str, str] = {}
    for s in pool.servers:
        out.setdefault(s.name, s.name)
        if s.address is not None:
            out.setdefault(s.endpoint if s.port is not None else f"{s.address}:80", s.name)
    return out


@dataclass
class _Counters:
    picks: int = 0
    responses: int = 0
    errors: int = 0
    times: deque[float] = field(default_factory=lambda: deque(maxlen=1024))


class NginxLog:
    """Tails an nginx access log and counts upstream picks per server of the config."""

    def __init__(self, path: str, config: ConfigFile) -> None:
        self.path = path
        self.config = config
        self.source = f"nginx-log:{path}"
        self._fh: int | None = None
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._counters: dict[tuple[str, str], _Counters] = {}
        self.unmatched = 0  # attempts whose address is in no upstream of the config
        self.lines = 0

    def _open(self, from_start: bool) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise CollectorError("the log file does not exist") from None
        except OSError as exc:
            raise CollectorError(exc.strerror or str(exc)) from None
        st = os.fstat(fd)
        self._fh, self._inode = fd, st.st_ino
        self._offset = 0 if from_start else st.st_size
        self._partial = b""

    def _read(self) -> bytes:
        assert self._fh is not None
        chunks = []
        budget = MAX_READ
        while budget > 0:
            data = os.pread(self._fh, min(budget, 1 << 20), self._offset)
            if not data:
                break
            chunks.append(data)
            self._offset += len(data)
            budget -= len(data)
        return b"".join(chunks)

    def _poll_file(self) -> bytes:
        if self._fh is None:
            self._open(from_start=False)
            return b""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None  # rotated away and not yet recreated: finish the old file
        data = b""
        if st is not None and st.st_ino != self._inode:
            data = self._read() + b"\n"
            os.close(self._fh)
            self._fh = None
            self._open(from_start=True)
        elif os.fstat(self._fh).st_size < self._offset:
            self._offset = 0  # truncated in place (copytruncate)
            self._partial = b""
        return data + self._read()

    def _count(self, text: bytes, config: Config) -> None:
        where: dict[str, tuple[str, str]] = {}
        for pool in config.pools:
            if pool.implicit:
                continue
            for address, name in _addresses(pool).items():
                where.setdefault(address, (pool.name, name))
        data = self._partial + text
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            attempts = parse_line(raw.decode("utf-8", "replace"))
            if not attempts:
                continue
            self.lines += 1
            for a in attempts:
                key = where.get(a.address)
                if key is None:
                    self.unmatched += 1
                    continue
                c = self._counters.setdefault(key, _Counters())
                c.picks += 1
                if a.status is not None:
                    c.responses += 1
                    c.errors += a.status >= 500
                if a.seconds is not None:
                    c.times.append(a.seconds * 1000.0)

    async def collect(self) -> Snapshot:
        config, _ = self.config.current()
        self._count(self._poll_file(), config)
        pools = {}
        for pool in config.pools:
            if pool.implicit:
                continue
            servers = []
            for s in pool.servers:
                c = self._counters.get((pool.name, s.name), _Counters())
                servers.append(
                    ServerSample(
                        s.name,
                        "MAINT" if s.disabled else "UP",
                        s.weight,
                        s.weight,
                        s.backup,
                        c.picks,
                        c.picks,
                        rtime_ms=sum(c.times) / len(c.times) if c.times else None,
                        hrsp_5xx=c.errors,
                        responses=c.responses,
                    )
                )
            pools[pool.name] = PoolSample(pool.name, tuple(servers), "UP", pool.balance.algorithm)
        return Snapshot(time.monotonic(), pools, self.source)

    async def close(self) -> None:
        if self._fh is not None:
            os.close(self._fh)
            self._fh = None
