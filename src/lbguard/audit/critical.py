"""Other critical configs (sshd, sudoers, Prometheus...): content drift and validators.

lbguard has no model of these files, so drift is by content hash against the
baseline, and correctness is whatever the file's own validator says. Validators run
as an argument vector, never through a shell (a file name cannot inject a command),
in their own process group with a timeout, so a hanging validator cannot hang the
audit. A file that cannot be read is a finding, not an error that stops the audit:
an audit that dies on the one file it cannot read reports nothing about the rest.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from lbguard.audit.findings import AuditFinding, Kind
from lbguard.findings import Severity
from lbguard.native import find_binary, run_isolated

if TYPE_CHECKING:  # the entries come validated from lbguard.settings, imported only then
    from lbguard.settings import CriticalFile

UNREADABLE = "unreadable"
_CHUNK = 1 << 20


def expand(entries: Iterable[CriticalFile]) -> list[tuple[str, CriticalFile]]:
    """Each configured path or glob as the files it names today (a plain path as itself)."""
    out: list[tuple[str, CriticalFile]] = []
    seen: set[str] = set()
    for entry in entries:
        pattern = os.path.expanduser(entry.path)
        if glob.has_magic(pattern):
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if not os.path.isdir(p))
        else:
            matches = [pattern]
        for path in matches:
            if path not in seen:
                seen.add(path)
                out.append((path, entry))
    return out


def file_sha256(path: str) -> str:
    """The file's SHA-256, or UNREADABLE; only the hash is kept, never the content."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return UNREADABLE
    return digest.hexdigest()


def hashes(entries: Iterable[CriticalFile]) -> dict[str, str]:
    return {path: file_sha256(path) for path, _ in expand(entries)}


def _read_problem(path: str) -> str:
    try:
        with open(path, "rb"):
            return "unknown error"
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return "permission denied"
    except IsADirectoryError:
        return "is a directory"
    except OSError as exc:
        return exc.strerror or str(exc)


def validate(path: str, entry: CriticalFile) -> str | None:
    """None when the validator accepts the file, else a one-line reason."""
    if not entry.validator:
        return None
    absolute = os.path.abspath(path)
    argv = [word.replace("{}", absolute) for word in entry.validator]
    if "{}" not in " ".join(entry.validator):
        argv.append(absolute)
    binary = argv[0] if os.sep in argv[0] else find_binary(argv[0])
    if binary is None or not os.access(binary, os.X_OK):
        return f"validator '{argv[0]}' is not installed or not executable"
    try:
        run = run_isolated([binary, *argv[1:]], timeout=entry.timeout)
    except OSError as exc:
        return f"validator '{argv[0]}' could not start ({exc.strerror or exc})"
    if run.timed_out:
        return f"validator '{argv[0]}' did not finish within {entry.timeout:g} s (killed)"
    if run.returncode != 0:
        lines = [line.strip() for line in run.output.splitlines() if line.strip()]
        first = lines[0][:300] if lines else "no output"
        return f"validator '{argv[0]}' exited {run.returncode}: {first}"
    return None


def audit_files(
    entries: Iterable[CriticalFile], approved: Mapping[str, str] | None
) -> tuple[list[AuditFinding], dict[str, str]]:
    """Findings for every critical file, and the hashes seen now."""
    entries = list(entries)
    out: list[AuditFinding] = []
    now: dict[str, str] = {}
    for entry in entries:
        if glob.has_magic(entry.path) and not expand([entry]):
            out.append(
                AuditFinding(
                    Kind.UNREADABLE_FILE,
                    Severity.WARNING,
                    f"{entry.path}: the pattern matches no file",
                    entry.path,
                    path=entry.path,
                )
            )
    for path, entry in expand(entries):
        digest = file_sha256(path)
        now[path] = digest
        if digest == UNREADABLE:
            out.append(
                AuditFinding(
                    Kind.UNREADABLE_FILE,
                    Severity.ERROR,
                    f"{path}: cannot be read ({_read_problem(path)}); it cannot be audited",
                    path,
                    path=path,
                )
            )
            continue
        if approved is not None:
            before = approved.get(path)
            if before is None:
                message = f"{path}: new file, not in the approved baseline"
            elif before != digest:
                message = f"{path}: content differs from the approved baseline"
            else:
                message = ""
            if message:
                out.append(
                    AuditFinding(
                        Kind.DRIFT,
                        Severity.WARNING,
                        message,
                        path,
                        path=path,
                        detail={"before": before, "after": digest},
                    )
                )
        problem = validate(path, entry)
        if problem is not None:
            out.append(
                AuditFinding(
                    Kind.VALIDATOR_FAILURE, Severity.ERROR, f"{path}: {problem}", path, path=path
                )
            )
    if approved is not None:
        for path in sorted(set(approved) - set(now)):
            out.append(
                AuditFinding(
                    Kind.DRIFT,
                    Severity.WARNING,
                    f"{path}: approved in the baseline but no longer matched by [audit] files",
                    path,
                    path=path,
                    detail={"before": approved[path], "after": None},
                )
            )
    return out, now
