"""The one problem type shared by parse errors, rule findings and the real binary's verdict.

Keeping a single shape means every output format (text, JSON, SARIF, JUnit, GitHub)
has exactly one code path, whatever produced the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum

from lbguard.model import Location


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; use one of {names}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


# Codes that are not rules but still findings.
PARSE = "PARSE"
NATIVE = "NATIVE"
CONFIG = "CONFIG"
SUPPRESS = "LBG900"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    rule: str
    severity: Severity
    message: str
    location: Location
    context: tuple[str, ...] = ()
    fix: str | None = None
    # True when the verdict depends on the machine (DNS, missing files), not the config.
    environment: bool = False

    def with_location(self, location: Location) -> Finding:
        return replace(self, location=location)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.location.path, self.location.line, self.location.column, self.code)


def parse_error(message: str, location: Location, context: tuple[str, ...] = ()) -> Finding:
    return Finding(PARSE, "syntax-error", Severity.ERROR, message, location, context)
