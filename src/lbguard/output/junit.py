"""JUnit XML for GitLab and Jenkins: a test case per finding, a passing one per clean file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from lbguard.findings import Finding, Severity
from lbguard.report import Report


def _case(suite: ET.Element, f: Finding) -> None:
    loc = f.location
    case = ET.SubElement(
        suite,
        "testcase",
        name=f"{f.code} {loc.path}:{loc.line}:{loc.column}",
        classname=f"lbguard.{f.rule}",
        file=loc.path,
        line=str(loc.line),
    )
    text = f"{loc.path}:{loc.line}:{loc.column}: {f.severity.label} {f.code} [{f.rule}] {f.message}"
    if f.fix:
        text += f"\nfix: {f.fix}"
    if f.severity >= Severity.WARNING:
        tag = "failure"
        failure = ET.SubElement(case, tag, message=f.message, type=f.severity.label)
        failure.text = text
    else:
        out = ET.SubElement(case, "system-out")
        out.text = text


def render_junit(report: Report, stream: TextIO) -> None:
    root = ET.Element("testsuites", name="lbguard")
    by_path: dict[str, list[Finding]] = {p: [] for p in report.paths}
    for f in report.findings:
        by_path.setdefault(f.location.path, []).append(f)
    total = failures = 0
    for path, findings in by_path.items():
        failing = sum(1 for f in findings if f.severity >= Severity.WARNING)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=path,
            tests=str(max(len(findings), 1)),
            failures=str(failing),
            errors="0",
        )
        if findings:
            for f in findings:
                _case(suite, f)
        else:
            ET.SubElement(suite, "testcase", name=f"{path}: no problems", classname="lbguard")
        total += max(len(findings), 1)
        failures += failing
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")
