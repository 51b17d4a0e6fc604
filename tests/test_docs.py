"""The documentation site builds, and the commands it shows really do what it says.

A ```console block right after a `<!-- runnable -->` line is run by this test: each
`$ ` line is a command (run in one bash session per block, in a scratch directory
where `examples/` is this checkout's), `# exit N` at its end states the exit status
(0 when absent), and each output line shown under it must appear in what the command
printed (`...` in a shown line stands for anything). Blocks that use a subcommand
this build of lbguard does not have are skipped, with the subcommand named.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest
import yaml

from conftest import ROOT, require_haproxy
from lbguard.cli import main
from lbguard.drill.state import end_processes
from lbguard.runbooks import ALERT_KINDS, AUDIT_KINDS, runbook_url

DOCS = ROOT / "docs"
MARKER = "<!-- runnable -->"
_EXIT = re.compile(r"#\s*exits?\s+(\d+)\b")
_SUBCOMMAND = re.compile(r"(?:^|[\s;&|(`])lbguard\s+([a-z][a-z-]*)")


@dataclass
class Command:
    text: str
    exit_code: int
    shown: list[str] = field(default_factory=list)


@dataclass
class Block:
    path: Path
    line: int
    commands: list[Command]

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```console":
            raise AssertionError(f"{path}:{i + 1}: {MARKER} must precede a ```console block")
        commands: list[Command] = []
        j = i + 2
        pending = ""
        while lines[j].strip() != "```":
            text = lines[j]
            if pending or text.startswith("$ "):
                body = pending + (text[2:] if not pending else text)
                if body.endswith("\\"):
                    pending = body + "\n"
                else:
                    pending = ""
                    m = _EXIT.search(body)
                    commands.append(Command(body, int(m.group(1)) if m else 0))
            elif text.strip():
                if not commands:
                    raise AssertionError(f"{path}:{j + 1}: output before any '$ ' command")
                commands[-1].shown.append(text)
            j += 1
        blocks.append(Block(path, i + 2, commands))
    return blocks


def all_blocks() -> list[Block]:
    return [b for page in sorted(DOCS.rglob("*.md")) for b in parse_blocks(page)]


BLOCKS = all_blocks()
_NATIVE = re.compile(r"lbguard\s+(verify|drill\s+start)\b")


def _native(block: Block) -> bool:
    """Blocks that start the real balancer."""
    return any(_NATIVE.search(c.text) for c in block.commands)


def _registered() -> set[str]:
    with click.Context(main) as ctx:
        return set(main.list_commands(ctx))


def _normal(text: str) -> str:
    return " ".join(text.split())


def _script(commands: list[Command]) -> str:
    out = ["set +e"]
    for n, cmd in enumerate(commands):
        out += [
            f"printf '\\n@@begin {n}@@\\n'",
            "{",
            cmd.text,
            "} 2>&1",
            f"printf '\\n@@end {n} %d@@\\n' $?",
        ]
    return "\n".join(out) + "\n"


def test_the_docs_have_runnable_examples() -> None:
    pages = {b.path.name for b in BLOCKS}
    assert len(BLOCKS) >= 15, [b.id for b in BLOCKS]
    assert {"getting-started.md", "procedure.md", "drill.md", "store.md"} <= pages
    assert all(b.commands for b in BLOCKS)


@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=b.id, marks=[pytest.mark.native] if _native(b) else []) for b in BLOCKS],
)
def test_runnable_block(block: Block, tmp_path: Path) -> None:
    if _native(block):
        require_haproxy()
    missing = sorted(
        {m for c in block.commands for m in _SUBCOMMAND.findall(c.text)} - _registered()
    )
    if missing:
        pytest.skip(f"lbguard {', '.join(missing)}: not a command of this build yet")
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LBGUARD_STORE": f"sqlite:///{tmp_path / 'store.db'}",
        "LBGUARD_DRILL_DIR": str(tmp_path / "drill"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "COLUMNS": "100",
        "NO_COLOR": "1",
    }
    env.pop("LBGUARD_DEBUG", None)
    try:
        done = subprocess.run(
            ["bash", "-c", _script(block.commands)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        end_processes(tmp_path / "drill")
    output = done.stdout
    for n, cmd in enumerate(block.commands):
        m = re.search(rf"@@begin {n}@@\n(.*?)\n@@end {n} (\d+)@@", output, re.S)
        assert m, f"{block.id}: `{cmd.text}` did not finish:\n{output}\n{done.stderr}"
        printed, status = m.group(1), int(m.group(2))
        assert "Traceback" not in printed, f"{block.id}: `{cmd.text}`\n{printed}"
        assert status == cmd.exit_code, (
            f"{block.id}: `{cmd.text}` exited {status}, the docs say {cmd.exit_code}:\n{printed}"
        )
        flat = _normal(printed)
        for shown in cmd.shown:
            for part in filter(None, (_normal(p) for p in shown.split("..."))):
                assert part in flat, f"{block.id}: `{cmd.text}` did not print {part!r}:\n{printed}"


def test_mkdocs_builds_strict(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    assert mkdocs, "mkdocs is a dev dependency (mkdocs-material); run make .venv/.installed"
    site = tmp_path / "site"
    done = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for kind in (*ALERT_KINDS, *AUDIT_KINDS):
        # https://lbguard.dev/runbooks/<kind>/ is what alerts link to.
        assert (site / "runbooks" / kind / "index.html").is_file(), kind
    assert (site / "rules" / "LBG101" / "index.html").is_file()
    assert (site / "operating" / "configuration" / "index.html").is_file()


@pytest.mark.parametrize("kind", [*ALERT_KINDS, *AUDIT_KINDS])
def test_every_kind_has_a_runbook(kind: str) -> None:
    page = DOCS / "runbooks" / f"{kind}.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {kind}\n")
    for heading in ("## First three things to look at", "## Commands", "## Roll back"):
        assert heading in text, f"{page.name} lacks {heading!r}"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"runbooks/{kind}.md" in nav
    assert runbook_url(kind) == f"https://lbguard.dev/runbooks/{kind}/"


def test_unknown_runbook_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no runbook"):
        runbook_url("site-down")


def test_generated_pages_are_fresh() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from gen_rule_docs import render_index, render_nav
    from gen_settings_docs import PAGE, render

    assert PAGE.read_text(encoding="utf-8") == render(), "run `make docs-settings`"
    assert (DOCS / "rules" / "index.md").read_text(encoding="utf-8") == render_index(), (
        "run `make docs-rules`"
    )
    mkdocs_yml = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert mkdocs_yml == render_nav(mkdocs_yml), "run `make docs-rules`"


def _fenced(page: Path, language: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


def test_ci_examples_parse_and_use_real_hooks() -> None:
    blocks = [yaml.safe_load(b) for b in _fenced(DOCS / "procedure.md", "yaml")]
    hooks = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    precommit = next(b for b in blocks if "repos" in b)
    used = {h["id"] for repo in precommit["repos"] for h in repo["hooks"]}
    assert used and used <= hooks
    actions = next(b for b in blocks if "jobs" in b)
    steps = actions["jobs"]["lbguard"]["steps"]
    assert any("--format sarif" in s.get("run", "") for s in steps)
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
    gitlab = next(b for b in blocks if "lbguard" in b and "script" in b["lbguard"])
    assert gitlab["lbguard"]["artifacts"]["reports"]["junit"] == "lbguard-junit.xml"


def _snippets(block: str) -> str:
    """A block with pymdownx.snippets lines (--8<-- "path") replaced by the file."""
    return re.sub(
        r'^--8<-- "([^"]+)"$',
        lambda m: (DOCS / m.group(1)).read_text(encoding="utf-8"),
        block,
        flags=re.M,
    )


def test_systemd_units_parse() -> None:
    units = [_snippets(u) for u in _fenced(DOCS / "operating" / "systemd.md", "ini")]
    assert len(units) >= 4
    for unit in units:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit)
        assert "Unit" in parser
        if "Service" in parser:
            assert parser["Service"]["ExecStart"].startswith("/usr/local/bin/lbguard ")
            if "unix:/run/haproxy/" in parser["Service"]["ExecStart"]:
                # ProtectSystem=strict: connecting to the stats socket needs it writable.
                assert "/run/haproxy" in parser["Service"].get("ReadWritePaths", "")


def test_runbooks_cover_every_kind_the_emitters_use() -> None:
    """Once watch and audit are in the build, each kind they emit must have a runbook."""
    import importlib

    emitted: set[str] = set()
    for module, attr in (
        ("lbguard.watch.alerts", "DEFAULT_HOLD"),
        ("lbguard.audit.findings", "Kind"),
    ):
        try:
            kinds = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError:
            continue
        emitted |= {str(getattr(k, "value", k)) for k in kinds}
    if not emitted:
        pytest.skip("neither lbguard.watch nor lbguard.audit is in this build yet")
    assert emitted <= {*ALERT_KINDS, *AUDIT_KINDS}


def test_settings_reference_renders_nested_tables_in_valid_rows() -> None:
    from typing import Literal

    from pydantic import BaseModel, Field

    sys.path.insert(0, str(ROOT / "tools"))
    from gen_settings_docs import render_model

    class Receiver(BaseModel):
        """A receiver."""

        type: Literal["webhook", "log"]
        url: str | int | None = Field(None, description="where | how")

    class Watch(BaseModel):
        """Watch settings."""

        interval: float = Field(5.0, description="seconds between polls")
        receivers: list[Receiver] = Field(default_factory=list)
        named: dict[str, Receiver] = Field(default_factory=dict)

    class Top(BaseModel):
        watch: Watch = Field(default_factory=Watch, description="the watch table")

    lines = render_model(Top, "")
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == [
        "## Top level",
        "## `[watch]`",
        "## `[[watch.receivers]]`",
        "## `[watch.named.NAME]`",
    ]
    rows = [line for line in lines if line.startswith("| `")]
    # Four cells in every row: no type, default or description may add a '|'.
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows), rows
    assert '| `type` | one of `"webhook"`, `"log"` | required |  |' in rows
    assert any(r.startswith("| `url` | string or integer (optional) | unset |") for r in rows)
