"""The one way a record becomes bytes: redacted, canonical JSON, exact UTC timestamps.

The hash chain is only as good as this function is deterministic. Secrets are masked
before anything is hashed or written, and masking is a pure function of the input, so
the same body always gives the same record and `trail verify` can recompute it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from lbguard.redact import MASK

_SECRET_PARTS = ("password", "passwd", "secret", "token", "credential", "apikey", "privatekey")
_SECRET_NAMES = frozenset({"auth", "pass", "authorization", "pwd"})
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    flat = re.sub(r"[^a-z0-9]", "", lowered)
    if any(part in flat for part in _SECRET_PARTS):
        return True
    return any(word in _SECRET_NAMES for word in re.split(r"[^a-z0-9]+", lowered))


def mask_url_password(text: str) -> str:
    return _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def redact(value: Any) -> Any:
    """JSON-able copy of `value` with secret-named fields and URL passwords masked."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if is_secret_key(key) and v is not None and not isinstance(v, bool | int | float):
                out[key] = MASK
            else:
                out[key] = redact(v)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = [redact(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, set | frozenset) else items
    if isinstance(value, str):
        return mask_url_password(value) if "://" in value else value
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, enum.Enum):
        return redact(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact(dataclasses.asdict(value))
    if value is None or isinstance(value, bool | int | float):
        return value
    raise TypeError(f"cannot record a {type(value).__name__} in the trail")


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("trail times must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
