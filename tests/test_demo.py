"""`make demo` tells the incident's story without a traceback, in numbered sections,
and ends by saying where the docs and the drill are. Other sections may be added;
the test holds the order and the ending, not the exact list."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_haproxy

pytestmark = pytest.mark.native

_SECTION = re.compile(r"^== (.+?) ==$", re.M)


def test_demo_runs_fast_and_ends_with_the_docs_and_the_drill() -> None:
    require_haproxy()
    lbguard = Path(sys.executable).parent / "lbguard"
    env = {
        **os.environ,
        "DEMO_FAST": "1",
        "LBGUARD": str(lbguard),
        "PYTHON": sys.executable,
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "examples" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert done.returncode == 0, output
    assert "Traceback" not in output and "internal error" not in output, output
    sections = _SECTION.findall(output)
    numbers = [int(m.group(1)) for s in sections if (m := re.match(r"(\d+)\. ", s))]
    assert numbers == sorted(numbers) and len(numbers) == len(set(numbers)), sections
    # Issue 11's story, in its order: each step has its own section.
    story = ("check", "simulate", "verify", "watch", "agent", "audit", "postmortem")
    found = [next(i for i, s in enumerate(sections) if f"lbguard {step}" in s) for step in story]
    assert found == sorted(found), sections
    bodies = re.split(r"^== .+? ==$", output, flags=re.M)[1:]
    parts = {step: bodies[i] for step, i in zip(story, found, strict=True)}
    assert "web-01" in parts["simulate"] and "100.0%" in parts["simulate"]
    assert "FIRING" in parts["watch"] and "RESOLVED" in parts["watch"], parts["watch"]
    lowest = min(int(w) for w in re.findall(r"'web2': (\d+)", parts["agent"]))
    assert lowest <= 50, parts["agent"]
    assert "audit FAILED" in parts["audit"] and "trail intact" in parts["audit"]
    assert "Detection time" in parts["postmortem"] and "deploy:" in parts["postmortem"]
    assert sections[-1] == "Next", sections
    ending = output.rsplit("== Next ==", 1)[1]
    assert "https://lbguard.dev/" in ending and "lbguard drill" in ending, ending
