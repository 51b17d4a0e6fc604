"""Reading config files safely: every way a file can be unreadable becomes one clear error.

Parsers never open files themselves; they ask this module, so the guarantees (no
traceback, no partial read, a size cap) hold for every dialect.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from lbguard.errors import ConfigReadError

# A balancer config of this size would be ~1M servers; anything bigger is a mistake
# (a log file, a core dump) and reading it would only waste memory.
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourceText:
    path: str  # as the user named it (or as found under a directory they named)
    text: str
    sha256: str


def read_source(path: str | os.PathLike[str]) -> SourceText:
    """Read one config file as UTF-8 text, or raise ConfigReadError with a one-line reason."""
    shown = os.fspath(path)
    p = Path(shown)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ConfigReadError(f"{shown}: no such file or directory") from None
    except PermissionError:
        raise ConfigReadError(f"{shown}: permission denied") from None
    except OSError as exc:
        raise ConfigReadError(f"{shown}: cannot read ({exc.strerror})") from None
    if p.is_dir():
        raise ConfigReadError(f"{shown}: is a directory, expected a file")
    if st.st_size > MAX_FILE_BYTES:
        raise ConfigReadError(
            f"{shown}: file is {st.st_size // (1024 * 1024)} MiB, over lbguard's limit of "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MiB for one config file"
        )
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise ConfigReadError(f"{shown}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise ConfigReadError(f"{shown}: is a directory, expected a file") from None
        raise ConfigReadError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigReadError(f"{shown}: file grew past lbguard's size limit while reading")
    if b"\x00" in data[:65536] or b"\x00" in data:
        raise ConfigReadError(f"{shown}: binary file (contains NUL bytes), not a config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigReadError(
            f"{shown}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
            "convert the file with iconv -f latin1 -t utf-8"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceText(shown, text, hashlib.sha256(data).hexdigest())
