"""An audit report as text (terminals, logs), JSON (scripts), Markdown (tickets, PR
comments) and HTML (a page to mail or archive). All four show the same findings in the
same order: grouped by kind, most traffic moved first."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import TextIO

from lbguard.audit.findings import AuditFinding, Kind
from lbguard.audit.run import AuditReport
from lbguard.findings import Severity

FORMATS = ("text", "json", "markdown", "html")
_TITLES = {
    Kind.DRIFT: "Drift from the approved baseline",
    Kind.NEW_FINDINGS: "Check findings new since the baseline",
    Kind.RUNTIME_MISMATCH: "Running state differs from the file",
    Kind.STALE_RELOAD: "Process runs an older config",
    Kind.VALIDATOR_FAILURE: "Validator failures",
    Kind.UNREADABLE_FILE: "Unreadable files",
}
_ORDER = (
    Kind.UNREADABLE_FILE,
    Kind.DRIFT,
    Kind.NEW_FINDINGS,
    Kind.STALE_RELOAD,
    Kind.RUNTIME_MISMATCH,
    Kind.VALIDATOR_FAILURE,
)


def _where(f: AuditFinding) -> str:
    if f.path and f.line:
        return f"{f.path}:{f.line}"
    return f.path or f.subject


def _groups(report: AuditReport) -> list[tuple[Kind, list[AuditFinding]]]:
    return [
        (kind, [f for f in report.findings if f.kind is kind])
        for kind in _ORDER
        if any(f.kind is kind for f in report.findings)
    ]


def _baselines(report: AuditReport) -> str:
    ids = sorted({i for i in report.baselines.values() if i is not None})
    if not ids:
        return "no approved baseline"
    return "baseline " + ", ".join(f"#{i}" for i in ids)


def _verdict(report: AuditReport, threshold: Severity) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n)
    state = "FAILED" if report.failed(threshold) else "passed"
    return f"audit {state}: {counts or 'no findings'}"


def render_text(report: AuditReport, stream: TextIO, threshold: Severity) -> None:
    out = [f"lbguard audit of {', '.join(report.configs)} against {_baselines(report)}"]
    if report.runtime:
        rt = report.runtime
        out.append(
            f"running process: HAProxy {rt.get('version') or '?'} pid {rt.get('pid') or '?'} "
            f"via {rt['endpoint']}"
        )
    for kind, items in _groups(report):
        out.append("")
        out.append(f"{_TITLES[kind]} ({len(items)}):")
        for f in items:
            out.append(f"  {_where(f)}: {f.severity.label} {f.message}")
        out.append(f"  runbook: {items[0].runbook_url}")
    out.append("")
    out.append(_verdict(report, threshold))
    stream.write("\n".join(out) + "\n")


def render_json(report: AuditReport, stream: TextIO, threshold: Severity) -> None:
    stream.write(json.dumps(report.as_json(threshold), indent=2, ensure_ascii=False) + "\n")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: AuditReport, stream: TextIO, threshold: Severity) -> None:
    out = [
        f"# lbguard audit: {'FAILED' if report.failed(threshold) else 'passed'}",
        "",
        f"Configs: {', '.join(f'`{c}`' for c in report.configs)}, against "
        f"{_baselines(report)}, at {report.at:%Y-%m-%d %H:%M:%S} UTC.",
    ]
    if not report.findings:
        out += ["", "No findings: what is deployed is what was approved."]
    for kind, items in _groups(report):
        out += [
            "",
            f"## {_TITLES[kind]} ({len(items)})",
            "",
            f"Runbook: <{items[0].runbook_url}>",
            "",
            "| severity | where | finding | traffic moved |",
            "|---|---|---|---|",
        ]
        for f in items:
            moved = f"{f.impact:.1%}" if f.impact else ""
            out.append(f"| {f.severity.label} | `{_md(_where(f))}` | {_md(f.message)} | {moved} |")
    out += ["", _verdict(report, threshold)]
    stream.write("\n".join(out) + "\n")


def render_html(report: AuditReport, stream: TextIO, threshold: Severity) -> None:
    e = html.escape
    title = f"lbguard audit: {'FAILED' if report.failed(threshold) else 'passed'}"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        ".error{color:#b00}.warning{color:#a60}</style>",
        "</head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>Configs: {e(', '.join(report.configs))}; against {e(_baselines(report))}; "
        f"at {e(f'{report.at:%Y-%m-%d %H:%M:%S}')} UTC.</p>",
    ]
    for kind, items in _groups(report):
        out.append(f"<h2>{e(_TITLES[kind])} ({len(items)})</h2>")
        url = e(items[0].runbook_url)
        out.append(f'<p>Runbook: <a href="{url}">{url}</a></p>')
        out.append("<table><tr><th>severity</th><th>where</th><th>finding</th>")
        out.append("<th>traffic moved</th></tr>")
        for f in items:
            moved = f"{f.impact:.1%}" if f.impact else ""
            out.append(
                f'<tr><td class="{f.severity.label}">{f.severity.label}</td>'
                f"<td><code>{e(_where(f))}</code></td><td>{e(f.message)}</td>"
                f"<td>{moved}</td></tr>"
            )
        out.append("</table>")
    out.append(f"<p><strong>{e(_verdict(report, threshold))}</strong></p>")
    out.append("</body></html>")
    stream.write("\n".join(out) + "\n")


RENDERERS: dict[str, Callable[[AuditReport, TextIO, Severity], None]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}
