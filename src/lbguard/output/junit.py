"""JUnit XML for GitLab and Jenkins: a test case per finding, a passing one per clean file.

GitLab's test report lists test cases, not suites, so one case per finding (named
`CODE path:line:col`, like the text header) is what makes each problem visible there;
the passing case per clean file shows that the file was checked at all.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from lbguard.findings import Finding, Severity
from lbguard.report import Report

# Characters XML 1.0 cannot carry at all, not even escaped (control codes, lone
# surrogates). ElementTree writes them raw and the file no longer parses, so a config
# quoting one in a message would break the whole report.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _case(suite: ET.Element, f: Finding) -> None:
    loc = f.location
    where = f"{loc.path}:{loc.line}:{loc.column}"
    case = ET.SubElement(
        suite,
        "testcase",
        name=_xml_safe(f"{f.code} {where}"),
        classname=_xml_safe(f"lbguard.{f.rule}"),
        file=_xml_safe(loc.path),
        line=str(loc.line),
    )
    text = f"{where}: {f.severity.label} {f.code} [{f.rule}] {f.message}"
    if f.fix:
        text += f"\nfix: {f.fix}"
    if f.severity >= Severity.WARNING:
        failure = ET.SubElement(
            case, "failure", message=_xml_safe(f.message), type=f.severity.label
        )
        failure.text = _xml_safe(text)
    else:
        # An info is worth reading but not worth a red pipeline.
        ET.SubElement(case, "system-out").text = _xml_safe(text)


def render_junit(report: Report, stream: TextIO) -> None:
    root = ET.Element("testsuites", name="lbguard")
    by_path: dict[str, list[Finding]] = {p: [] for p in report.paths}
    for f in report.findings:
        by_path.setdefault(f.location.path, []).append(f)
    total = failures = 0
    for path, findings in by_path.items():
        failing = sum(1 for f in findings if f.severity >= Severity.WARNING)
        tests = max(len(findings), 1)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_xml_safe(path),
            tests=str(tests),
            failures=str(failing),
            errors="0",
            skipped="0",
        )
        for f in findings:
            _case(suite, f)
        if not findings:
            ET.SubElement(
                suite, "testcase", name=_xml_safe(f"{path}: no problems"), classname="lbguard"
            )
        total += tests
        failures += failing
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    ET.indent(root)
    stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    stream.write(ET.tostring(root, encoding="unicode"))
    stream.write("\n")
