"""`# lbguard: ignore=CODE reason` comments: parsing, matching, and reporting misuse.

A suppression must say why, and one that suppresses nothing is itself reported, so
ignores cannot quietly outlive the problem they excused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lbguard.findings import Finding, Severity
from lbguard.model import Config, Location

_IGNORE = re.compile(r"lbguard:\s*ignore=([A-Za-z0-9_,-]+)\s*(.*)$")
UNUSED = ("LBG900", "unused-suppression")
NO_REASON = ("LBG901", "suppression-without-reason")


@dataclass
class Suppression:
    location: Location
    codes: frozenset[str]
    reason: str
    first_line: int
    last_line: int
    used: bool = field(default=False)

    def matches(self, finding: Finding) -> bool:
        loc = finding.location
        if loc.path != self.location.path or not self.first_line <= loc.line <= self.last_line:
            return False
        return finding.code in self.codes or finding.rule in self.codes or "all" in self.codes


def collect(config: Config) -> tuple[list[Suppression], list[Finding]]:
    """Suppressions declared in the config's comments, and findings about bad ones."""
    problems: list[Finding] = []
    out: list[Suppression] = []
    header_ranges = _section_ranges(config)
    for loc, text in config.comments:
        m = _IGNORE.search(text)
        if m is None:
            continue
        codes = frozenset(c.strip() for c in m.group(1).split(",") if c.strip())
        reason = m.group(2).strip()
        if not reason:
            problems.append(
                Finding(
                    NO_REASON[0],
                    NO_REASON[1],
                    Severity.WARNING,
                    f"suppression of {', '.join(sorted(codes))} has no reason; write why after "
                    "the code, e.g. '# lbguard: ignore=LBG101 primary/replica by design'",
                    loc,
                )
            )
            continue
        first, last = loc.line, loc.line + 1
        for header_line, body_first, end in header_ranges.get(loc.path, ()):
            # On the section line itself, or above its first statement: the whole section.
            if header_line <= loc.line < max(body_first, header_line + 1):
                first, last = header_line, end
                break
        out.append(Suppression(loc, codes, reason, first, last))
    return out, problems


def _section_ranges(config: Config) -> dict[str, list[tuple[int, int, int]]]:
    ranges: dict[str, list[tuple[int, int, int]]] = {}
    by_file: dict[str, list[tuple[int, int, int]]] = {}
    for section in config.sections:
        path = section.location.path
        lines = [d.location.line for d in section.directives if d.location.path == path]
        body_first = section.body_line or (min(lines) if lines else section.location.line + 1)
        end = max([*lines, section.end_line, section.location.line])
        by_file.setdefault(path, []).append((section.location.line, body_first, end))
    for path, items in by_file.items():
        ranges[path] = sorted(items)
    return ranges


def apply(
    findings: Iterable[Finding], suppressions: list[Suppression]
) -> tuple[list[Finding], list[Finding]]:
    """Drop suppressed findings; return (kept, unused-suppression findings)."""
    kept: list[Finding] = []
    for finding in findings:
        hit = False
        for sup in suppressions:
            if sup.matches(finding):
                sup.used = True
                hit = True
        if not hit:
            kept.append(finding)
    unused = [
        Finding(
            UNUSED[0],
            UNUSED[1],
            Severity.WARNING,
            f"suppression of {', '.join(sorted(s.codes))} matches no finding; remove it",
            s.location,
        )
        for s in suppressions
        if not s.used
    ]
    return kept, unused
