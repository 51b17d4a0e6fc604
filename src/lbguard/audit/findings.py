"""What an audit reports: one finding type for drift, runtime, check and file problems.

Every finding names its kind, and every kind has a runbook page, so whoever is paged
by an audit lands on what to look at first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lbguard.findings import Severity
from lbguard.runbooks import runbook_url


class Kind(StrEnum):
    DRIFT = "drift"  # the model differs from the approved baseline
    RUNTIME_MISMATCH = "runtime-mismatch"  # the running process differs from the file
    STALE_RELOAD = "stale-reload"  # the process runs an older config than the file
    NEW_FINDINGS = "new-findings"  # a check finding the baseline did not have
    VALIDATOR_FAILURE = "validator-failure"  # a critical file's validator failed
    UNREADABLE_FILE = "unreadable-file"  # a config or critical file cannot be read


@dataclass(frozen=True)
class AuditFinding:
    """One problem an audit found, with where it is and how much traffic it moves."""

    kind: Kind
    severity: Severity
    message: str
    subject: str  # "backend app, server web-02", or a file path
    pool: str | None = None
    server: str | None = None
    path: str | None = None
    line: int | None = None
    # Fraction of the pool's traffic (0..1) the change moves, by the simulator.
    impact: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def runbook_url(self) -> str:
        return runbook_url(self.kind.value)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.label,
            "message": self.message,
            "subject": self.subject,
            "pool": self.pool,
            "server": self.server,
            "path": self.path,
            "line": self.line,
            "impact": round(self.impact, 6),
            "detail": self.detail,
            "runbook_url": self.runbook_url,
        }
