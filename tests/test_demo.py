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
    story = " | ".join(sections)
    for step in ("lbguard check", "lbguard simulate", "lbguard verify"):
        assert step in story, f"no section for {step}: {sections}"
    assert sections[-1] == "Next", sections
    ending = output.rsplit("== Next ==", 1)[1]
    assert "https://lbguard.dev/" in ending and "lbguard drill" in ending, ending
