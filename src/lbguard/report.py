"""The result of one `lbguard check` run, as every output format receives it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lbguard.findings import Finding, Severity


@dataclass(frozen=True)
class RuleInfo:
    """What an output format needs to know about a rule (SARIF's rule table, help URIs)."""

    code: str
    name: str
    severity: Severity
    summary: str
    help_uri: str


@dataclass
class Report:
    """Findings of one run, sorted, plus the files that were read.

    `paths` are the files as the user named them (or as found under a directory they
    named), which is what SARIF and the JSON contract must point at.
    """

    findings: list[Finding]
    paths: list[str]
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)
    # Source text per path, so a text report can draw code frames without re-reading.
    sources: Mapping[str, list[str]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def summary(self) -> dict[str, int]:
        return {
            "files": len(self.paths),
            "errors": self.count(Severity.ERROR),
            "warnings": self.count(Severity.WARNING),
            "infos": self.count(Severity.INFO),
        }

    def failed(self, fail_on: Severity) -> bool:
        return any(f.severity >= fail_on for f in self.findings)

    @classmethod
    def build(
        cls,
        findings: Iterable[Finding],
        paths: Iterable[str],
        rules: Mapping[str, RuleInfo] | None = None,
        sources: Mapping[str, list[str]] | None = None,
        notices: Iterable[str] = (),
    ) -> Report:
        return cls(
            findings=sorted(findings, key=Finding.sort_key),
            paths=list(paths),
            rules=dict(rules or {}),
            sources=dict(sources or {}),
            notices=list(notices),
        )
