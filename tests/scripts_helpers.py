"""Helpers shared by the script tests: render with lbguard, run with the real shell."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from lbguard.scripts.shell import ScriptAnalysis, analyse_script

# Commands a config-writing script may call that must not touch the machine.
STUBS = ("systemctl", "service", "nginx", "haproxy", "lbguard", "inventory", "curl", "consul")


def analyse(script: str, env: dict[str, str] | None = None, **kw: object) -> ScriptAnalysis:
    return analyse_script("gen.sh", script, env or {}, **kw)  # type: ignore[arg-type]


def rendered(script: str, env: dict[str, str] | None = None, **kw: object) -> dict[str, str]:
    """What lbguard says the script writes, per target file."""
    return {o.target: o.data.text for o in analyse(script, env, **kw).outputs}


def run_shell(
    script: str, tmp: Path, env: dict[str, str] | None = None, shell: str = "bash"
) -> dict[str, str]:
    """What the real shell writes, run in `tmp` with reload commands stubbed."""
    work = tmp / "work"
    bin_dir = tmp / "bin"
    work.mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    for name in STUBS:
        stub = bin_dir / name
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    path = tmp / "gen.sh"
    path.write_text(script)
    shell_path = shutil.which(shell) or f"/bin/{shell}"
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp), "LC_ALL": "C"}
    subprocess.run(
        [shell_path, str(path)],
        cwd=work,
        env={**base, **(env or {})},
        capture_output=True,
        timeout=30,
        check=False,
    )
    out: dict[str, str] = {}
    for root, _, files in os.walk(work):
        for name in files:
            full = Path(root) / name
            out[os.path.relpath(full, work)] = full.read_text()
    return out


def example_env(text: str) -> dict[str, str]:
    """The `Documented example environment` in a corpus script's header, parsed with shlex."""
    grab = False
    words: list[str] = []
    for line in text.split("\n"):
        if "Documented example environment" in line:
            grab = True
            continue
        if grab:
            if not line.startswith("#   "):
                break
            words.append(line[4:].rstrip().rstrip("\\"))
    env: dict[str, str] = {}
    for word in shlex.split(" ".join(words)):
        name, sep, value = word.partition("=")
        if sep and name.replace("_", "a").isalnum() and not name[0].isdigit():
            env[name] = value
    return env
