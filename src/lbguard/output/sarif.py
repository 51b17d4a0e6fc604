"""SARIF 2.1.0, the format GitHub code scanning and most SAST dashboards ingest."""

from __future__ import annotations

import json
from typing import Any, TextIO

from lbguard import __version__
from lbguard.findings import Severity
from lbguard.report import Report
from lbguard.rules.base import DOCS_BASE

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_SPECIAL = {
    "PARSE": ("syntax-error", "The file does not parse as the balancer would parse it."),
    "NATIVE": ("native-check", "The balancer's own config check rejected or warned."),
    "CONFIG": ("config-note", "A note about how lbguard read the configuration."),
}


def _uri(path: str) -> str:
    return path.replace("\\", "/")


def sarif_dict(report: Report) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}

    def rule_index(code: str, rule_name: str, severity: Severity) -> int:
        if code in index:
            return index[code]
        info = report.rules.get(code)
        if info is not None:
            name, summary, help_uri = info.name, info.summary, info.help_uri
            level = _LEVEL[info.severity]
        else:
            name, summary = _SPECIAL.get(code, (rule_name, rule_name))
            help_uri = f"{DOCS_BASE}#{code.lower()}"
            level = _LEVEL[severity]
        index[code] = len(rules)
        rules.append(
            {
                "id": code,
                "name": name,
                "shortDescription": {"text": summary},
                "helpUri": help_uri,
                "defaultConfiguration": {"level": level},
            }
        )
        return index[code]

    results = []
    for f in report.findings:
        loc = f.location
        region: dict[str, int] = {"startLine": loc.line, "startColumn": loc.column}
        if loc.end_line:
            region["endLine"] = loc.end_line
        if loc.end_column:
            region["endColumn"] = loc.end_column + 1
        results.append(
            {
                "ruleId": f.code,
                "ruleIndex": rule_index(f.code, f.rule, f.severity),
                "level": _LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(loc.path)},
                            "region": region,
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
                        "informationUri": "https://lbguard.readthedocs.io/",
                        "rules": rules,
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def render_sarif(report: Report, stream: TextIO) -> None:
    json.dump(sarif_dict(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")
