"""Durations and points in time as people type them: `2h`, `90s`, `1h30m`, `2026-11-30T06:00Z`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from lbguard.errors import LbguardError
from lbguard.util import is_digits

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """`1h`, `30m`, `90s`, `1h30m`, `2d`; a bare number is seconds."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw)
    else:
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(raw):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos != len(raw) or not raw:
            raise LbguardError(f"'{text}' is not a duration; use e.g. 90s, 30m, 2h, 1h30m or 7d")
    if seconds <= 0:
        raise LbguardError(f"'{text}': the duration must be more than zero")
    return timedelta(seconds=seconds)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """A duration back from now (`2h`), or an ISO 8601 time (UTC when no zone is given)."""
    now = now or datetime.now(UTC)
    raw = text.strip()
    if raw and is_digits(raw[0]) and not re.match(r"\d{4}-", raw):
        return now - parse_duration(raw)
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise LbguardError(
            f"'{text}' is neither a duration (2h, 30m) nor a time (2026-11-30T06:00Z)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _hms(delta: timedelta) -> tuple[str, int, int, int]:
    total = round(delta.total_seconds())
    h, rest = divmod(abs(total), 3600)
    m, s = divmod(rest, 60)
    return ("-" if total < 0 else "+"), h, m, s


def human(delta: timedelta) -> str:
    """`2 h 05 min`, `4 min 10 s`, `40 s`: precise enough for a postmortem."""
    sign, h, m, s = _hms(delta)
    sign = sign.strip("+")
    if h:
        return f"{sign}{h} h {m:02d} min"
    if m:
        return f"{sign}{m} min {s:02d} s"
    return f"{sign}{s} s"


def relative(delta: timedelta) -> str:
    """`T+00:04:10` / `T-00:01:00`, the clock a timeline is read against."""
    sign, h, m, s = _hms(delta)
    return f"T{sign}{h:02d}:{m:02d}:{s:02d}"
