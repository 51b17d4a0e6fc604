"""SARIF 2.1.0, the format GitHub code scanning and most SAST dashboards ingest.

Code scanning rejects a whole upload for one schema violation (a startLine of 0, a
URI that does not parse), so every value here is clamped or encoded into what the
schema allows rather than trusted.
"""

from __future__ import annotations

import json
import re
from typing import Any, TextIO
from urllib.parse import quote

from lbguard import __version__
from lbguard.findings import CONFIG, NATIVE, PARSE, Finding, Severity
from lbguard.report import Report
from lbguard.rules.base import DOCS_BASE

# The id of the schema tests validate against (OASIS 2.1.0 with errata 01).
SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://lbguard.dev/"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# Codes that are findings without being rules: code scanning still wants a rule entry
# for them, or it shows the bare code with no description.
_SPECIAL = {
    PARSE: ("syntax-error", "The file does not parse as the balancer would parse it."),
    NATIVE: ("native-check", "The balancer's own config check rejected or warned."),
    CONFIG: ("config-note", "A note about how lbguard read the configuration."),
}
_DRIVE = re.compile(r"^[A-Za-z]:/")


def artifact_uri(path: str) -> str:
    """The path as the user gave it, made a valid URI reference.

    Relative paths stay relative, so code scanning resolves them against the checkout
    root; absolute ones become file URIs, the only absolute form SARIF consumers
    relativise. Percent-encoding keeps a space, '#' or ':' from being read as URI
    syntax.
    """
    posix = path.replace("\\", "/")
    if _DRIVE.match(posix):
        return "file:///" + posix[:2] + quote(posix[2:], safe="/")
    if posix.startswith("/"):
        return "file://" + quote(posix, safe="/")
    return quote(posix, safe="/")


def _rule(code: str, name: str, summary: str, help_uri: str, severity: Severity) -> dict[str, Any]:
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": summary},
        "helpUri": help_uri,
        "defaultConfiguration": {"level": _LEVEL[severity]},
    }


def _region(f: Finding) -> dict[str, int]:
    # SARIF's endColumn is exclusive and lbguard's is inclusive; an unknown end is the
    # start, as in the JSON contract, so every format marks the same span.
    loc = f.location
    line = max(loc.line, 1)
    column = max(loc.column, 1)
    end_line = max(loc.end_line or line, line)
    end_column = loc.end_column or column
    if end_line == line:
        end_column = max(end_column, column)
    return {
        "startLine": line,
        "startColumn": column,
        "endLine": end_line,
        "endColumn": end_column + 1,
    }


def sarif_dict(report: Report) -> dict[str, Any]:
    rules = [
        _rule(info.code, info.name, info.summary, info.help_uri, info.severity)
        for info in report.rules.values()
    ]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for f in report.findings:
        if f.code not in index:
            name, summary = _SPECIAL.get(f.code, (f.rule, f.rule))
            index[f.code] = len(rules)
            rules.append(_rule(f.code, name, summary, f"{DOCS_BASE}#{f.code.lower()}", f.severity))
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": _LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact_uri(f.location.path)},
                            "region": _region(f),
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "lbguard",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "results": results,
                # Columns count Python str characters, that is code points.
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def render_sarif(report: Report, stream: TextIO) -> None:
    # One write, for the same reason as the JSON format: no per-token system calls.
    stream.write(json.dumps(sarif_dict(report), indent=2, ensure_ascii=False) + "\n")
