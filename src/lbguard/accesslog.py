"""Reading balancer access logs into columns, fast.

`lbguard simulate --traffic access.log` replays real client addresses, URIs and
hosts, and a million-line log must load in well under a second. polars parses the
file in Rust across all cores; a Python loop over lines would take ten times longer.

Two formats are recognised from the first lines of the file:

* nginx `combined`, optionally followed by `$upstream_addr`, `$upstream_status` and
  `$upstream_response_time` (in any order after the user agent; recognised by value);
* HAProxy `option httplog` lines (as written to syslog or stdout).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lbguard.errors import ConfigReadError

if TYPE_CHECKING:
    import polars as pl

NGINX = "nginx"
HAPROXY = "haproxy"

_HAPROXY_LINE = re.compile(
    r"(?P<client>[0-9a-fA-F.:]+):\d+ \[[^\]]+\] \S+ (?P<backend>[^/ ]+)/(?P<server>\S+) "
    r"[-\d]+/[-\d]+/[-\d]+/[-\d]+/\+?[-\d]+ (?P<status>-?\d+) .*?\"(?P<request>[^\"]*)\""
)
_NGINX_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "[^"]*" \d{3} ')
_NGINX_COLUMNS = [
    "client_ip",
    "ident",
    "user",
    "time",
    "zone",
    "request",
    "status",
    "bytes",
    "referer",
    "user_agent",
]


@dataclass(frozen=True)
class AccessLog:
    """A parsed log: one row per request with the columns the simulator and watch need."""

    format: str
    frame: pl.DataFrame  # client_ip, method, uri, status, upstream, upstream_time, host

    def __len__(self) -> int:
        return self.frame.height


def detect_format(path: str | os.PathLike[str]) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(65536).decode("utf-8", "replace").splitlines()[:20]
    except FileNotFoundError:
        raise ConfigReadError(f"{os.fspath(path)}: no such file or directory") from None
    except PermissionError:
        raise ConfigReadError(f"{os.fspath(path)}: permission denied") from None
    except IsADirectoryError:
        raise ConfigReadError(f"{os.fspath(path)}: is a directory, expected a log file") from None
    for line in head:
        if _HAPROXY_LINE.search(line):
            return HAPROXY
        if _NGINX_LINE.search(line):
            return NGINX
    raise ConfigReadError(
        f"{os.fspath(path)}: not an nginx combined or HAProxy httplog access log "
        "(no recognisable line in the first 20)"
    )


def read_access_log(path: str | os.PathLike[str], fmt: str | None = None) -> AccessLog:
    """Parse a whole access log; unparsable lines are dropped, not fatal."""
    import polars as pl

    fmt = fmt or detect_format(path)
    shown = os.fspath(path)
    if Path(shown).stat().st_size == 0:
        raise ConfigReadError(f"{shown}: the log is empty")
    try:
        frame = _read_nginx(shown) if fmt == NGINX else _read_haproxy(shown)
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigReadError(f"{shown}: cannot read the log ({first})") from None
    if frame.height == 0:
        raise ConfigReadError(f"{shown}: no request lines could be read from the log")
    return AccessLog(fmt, frame)


def _read_nginx(path: str) -> pl.DataFrame:
    import polars as pl

    # The combined format is space separated with "quoted" fields, which is exactly
    # what the CSV reader parses; only the [time zone] pair splits into two columns.
    options = dict(
        separator=" ",
        quote_char='"',
        has_header=False,
        infer_schema=False,
        truncate_ragged_lines=True,
        ignore_errors=True,
        encoding="utf8-lossy",
    )
    sample = pl.read_csv(path, n_rows=200, **options)  # type: ignore[arg-type]
    width = len(sample.columns)
    # Extra fields after the user agent are recognised by their values: an
    # address:port list (upstream_addr) or seconds (upstream_response_time).
    upstream_at: int | None = None
    time_at: int | None = None
    for index in range(len(_NGINX_COLUMNS), width):
        values = sample.get_column(sample.columns[index]).drop_nulls().head(50).to_list()
        if not values:
            continue
        if upstream_at is None and all(":" in v or v == "-" for v in values):
            upstream_at = index
        elif time_at is None and all(re.fullmatch(r"[\d.]+(, [\d.]+)*|-", v) for v in values):
            time_at = index
    # Reading only the needed columns halves the work on a 1M-line log. nginx writes
    # retried requests as "a, b": the space splits that into several columns, so the
    # columns after the upstream address are read too and joined back where a value
    # ends with a comma (rare, and cheap to repair column-wise).
    wanted = [0, 5, 6]
    if upstream_at is not None:
        wanted += list(range(upstream_at, max(width, upstream_at + 4)))
    elif time_at is not None:
        wanted.append(time_at)
    span = max(wanted) + 1
    raw = pl.read_csv(
        path,
        columns=wanted,
        schema={f"c{i}": pl.Utf8 for i in range(span)},
        missing_columns="insert",
        extra_columns="ignore",
        **{k: v for k, v in options.items() if k != "infer_schema"},  # type: ignore[arg-type]
    )
    names = ["client_ip", "request", "status"] + [f"x{i}" for i in range(len(raw.columns) - 3)]
    raw = raw.rename(dict(zip(raw.columns, names, strict=True)))
    extras = names[3:]
    upstream: pl.Expr = pl.lit(None, pl.Utf8)
    upstream_time: pl.Expr = pl.lit(None, pl.Utf8)
    if upstream_at is not None and extras:
        upstream = pl.col(extras[0])
        more = pl.col(extras[0]).str.ends_with(",")
        for name in extras[1:]:
            upstream = pl.when(more).then(upstream + " " + pl.col(name)).otherwise(upstream)
            more = more & pl.col(name).str.ends_with(",")
        if time_at is not None and time_at - upstream_at < len(extras):
            upstream_time = pl.col(extras[time_at - upstream_at])
    elif time_at is not None and extras:
        upstream_time = pl.col(extras[0])
    request = pl.col("request").str.split_exact(" ", 2)
    return raw.select(
        pl.col("client_ip"),
        request.struct.field("field_0").alias("method"),
        request.struct.field("field_1").alias("uri"),
        pl.col("status").cast(pl.Int32, strict=False).alias("status"),
        upstream.alias("upstream"),
        upstream_time.alias("upstream_time"),
        pl.lit(None, dtype=pl.Utf8).alias("host"),
    ).filter(pl.col("uri").is_not_null())


def _read_haproxy(path: str) -> pl.DataFrame:
    import polars as pl

    lines = pl.read_csv(
        path,
        separator="\x1f",
        quote_char=None,
        has_header=False,
        new_columns=["line"],
        infer_schema=False,
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
    )
    parts = lines.select(
        pl.col("line").str.extract_groups(_HAPROXY_LINE.pattern).alias("m")
    ).unnest("m")
    request = pl.col("request").str.split_exact(" ", 2)
    return parts.select(
        pl.col("client").alias("client_ip"),
        request.struct.field("field_0").alias("method"),
        request.struct.field("field_1").alias("uri"),
        pl.col("status").cast(pl.Int32, strict=False).alias("status"),
        (pl.col("backend") + "/" + pl.col("server")).alias("upstream"),
        pl.lit(None, dtype=pl.Utf8).alias("upstream_time"),
        pl.lit(None, dtype=pl.Utf8).alias("host"),
    ).filter(pl.col("client_ip").is_not_null())


def upstream_counts(log: AccessLog) -> dict[str, int]:
    """Requests per upstream server; nginx's "a, b" (retries) counts the last attempt."""
    import polars as pl

    col = pl.col("upstream").str.split(", ").list.last()
    counts = (
        log.frame.select(col.alias("upstream"))
        .drop_nulls()
        .group_by("upstream")
        .len()
        .sort("upstream")
    )
    return dict(zip(counts["upstream"].to_list(), counts["len"].to_list(), strict=True))
