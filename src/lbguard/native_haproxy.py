"""`haproxy -c` as an oracle: its alerts and warnings become NATIVE findings with locations."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from lbguard.findings import NATIVE, Finding, Severity
from lbguard.model import Config, Location
from lbguard.native import find_binary, run_isolated

_LINE = re.compile(r"^\[(ALERT|WARNING|NOTICE)\]\s*(?:\(\d+\))?\s*:\s*(?:config\s*:\s*)?(.*)$")
_POS = re.compile(r"parsing \[(.+?):(\d+)\]\s*:?\s*")
_PROXY = re.compile(r"(?:[Pp]roxy|backend|frontend|listen) '([^']+)'")
_NOISE = (
    "Error(s) found in configuration file",
    "Fatal errors found in configuration",
    "Configuration file is valid",
    "config : Fatal errors",
)
# Failures caused by the machine lbguard runs on, not by the file.
_ENVIRONMENT = re.compile(
    r"unable to stat SSL certificate|error opening file|cannot find (user|group) id|"
    r"unable to load|No such file or directory|could not resolve address|invalid address|"
    r"Can't open|unable to find|expects an address or a path|cannot open|"
    r"unable to open|failed to open",
    re.IGNORECASE,
)


def haproxy_binary() -> str | None:
    return find_binary("haproxy")


def run_haproxy_check(
    paths: Sequence[str], config: Config | None = None, *, binary: str | None = None
) -> list[Finding]:
    """Run `haproxy -c -dr` on the files and turn its messages into findings."""
    exe = binary or haproxy_binary()
    if exe is None:
        return []
    argv = [exe, "-c", "-dr"]
    absolute = {}
    for path in paths:
        full = os.path.abspath(path)
        absolute[full] = path
        argv += ["-f", full]
    run = run_isolated(argv)
    first = paths[0] if paths else "<config>"
    if run.timed_out:
        return [
            Finding(
                NATIVE,
                "native-check",
                Severity.WARNING,
                "haproxy -c did not finish within 30 s and was stopped",
                Location(first, 1),
                environment=True,
            )
        ]
    findings = parse_haproxy_output(run.output, absolute, first, config)
    if run.returncode == 2 and "no listener" in run.output:
        return [f for f in findings if "no listener" not in f.message] + [
            Finding(
                NATIVE,
                "native-check",
                Severity.INFO,
                "haproxy -c: the config is valid but defines no listener, so HAProxy would "
                "not start with these files alone",
                Location(first, 1),
            )
        ]
    if run.returncode not in (0, 2) and not any(f.severity == Severity.ERROR for f in findings):
        findings.append(
            Finding(
                NATIVE,
                "native-check",
                Severity.ERROR,
                f"haproxy -c failed (exit {run.returncode}) without a located message",
                Location(first, 1),
            )
        )
    return findings


def parse_haproxy_output(
    output: str, paths: dict[str, str], first: str, config: Config | None = None
) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for raw in output.splitlines():
        m = _LINE.match(raw.strip())
        if m is None:
            continue
        level, text = m.group(1), m.group(2).strip()
        if any(noise in text for noise in _NOISE):
            continue
        if level == "NOTICE":
            continue
        loc = Location(first, 1)
        pos = _POS.search(text)
        if pos is not None:
            shown = paths.get(pos.group(1), paths.get(os.path.abspath(pos.group(1)), pos.group(1)))
            loc = Location(shown, int(pos.group(2)))
            text = (text[: pos.start()] + text[pos.end() :]).strip(" :")
        elif config is not None:
            loc = _locate_proxy(text, config) or loc
        text = text.replace("\t", " ").strip()
        for full, shown in paths.items():
            text = text.replace(full, shown)
        env = bool(_ENVIRONMENT.search(text))
        severity = Severity.ERROR if level == "ALERT" else Severity.WARNING
        if env:
            severity = Severity.WARNING
        key = (loc.path, loc.line, text)
        if key in seen:
            continue
        seen.add(key)
        prefix = "haproxy -c (depends on this machine): " if env else "haproxy -c: "
        out.append(Finding(NATIVE, "native-check", severity, prefix + text, loc, environment=env))
    return out


def _locate_proxy(text: str, config: Config) -> Location | None:
    m = _PROXY.search(text)
    if m is None:
        return None
    name = m.group(1)
    for fe in config.frontends:
        if fe.name == name:
            return fe.location
    for pool in config.pools:
        if pool.name == name:
            return pool.location
    return None
