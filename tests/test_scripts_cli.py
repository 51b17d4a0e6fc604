"""`lbguard check` on scripts and templates from the command line: every output format
points at the script, and bad input is one line or a finding, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT
from test_cli import lbguard

PROVISION = EXAMPLES / "incident" / "provision-lb.sh"


def test_incident_script_blames_the_empty_variable_at_its_line() -> None:
    proc = lbguard("check", "--no-native", "--var", "WEB3_IP=", str(PROVISION))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert f"{PROVISION}:37:19: error LBG401" in out and "${WEB3_IP} is empty" in out
    assert "from --var" in out
    assert "37 |     server web-03 ${WEB3_IP}:8080 backup" in out  # the frame is the script's
    assert "LBG101" in out and "LBG404" in out
    assert "Traceback" not in out + proc.stderr


def test_without_the_value_the_unknown_lookup_is_said_not_guessed() -> None:
    proc = lbguard("check", "--no-native", "--format", "json", str(PROVISION))
    data = json.loads(proc.stdout)
    codes = {(f["code"], f["line"]) for f in data["findings"]}
    assert ("LBG401", 37) not in codes
    info = next(f for f in data["findings"] if f["rule"] == "unknown-value")
    assert info["line"] == 37 and "inventory get web-03.ip" in info["message"]


def test_sarif_points_at_the_script(tmp_path: Path) -> None:
    proc = lbguard("check", "--no-native", "--format", "sarif", "--var", "WEB3_IP=", str(PROVISION))
    sarif = json.loads(proc.stdout)
    results = sarif["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert all(u.endswith("provision-lb.sh") for u in uris)
    lines = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results
    }
    assert ("LBG401", 37) in lines


def test_env_file_and_vars_file(tmp_path: Path) -> None:
    env = tmp_path / "deploy.env"
    env.write_text("# inventory on the day\nexport WEB3_IP=''\nOUT=/tmp/x.cfg # ignored\n")
    proc = lbguard("check", "--no-native", "--env", str(env), str(PROVISION))
    assert "LBG401" in proc.stdout and f"--env {env}" in proc.stdout
    tpl = tmp_path / "nginx.conf.j2"
    tpl.write_text("upstream a {\n    server {{ ip }};\n    server 10.0.0.2;\n}\n")
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text("ip: 10.0.0.1\n")
    proc = lbguard("check", "--no-native", "--vars", str(vars_file), str(tpl))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_directories_include_scripts_and_templates(tmp_path: Path) -> None:
    (tmp_path / "gen.sh").write_text("cat > haproxy.cfg <<EOF\nbackend a\n    balance nope\nEOF\n")
    (tmp_path / "notes.txt").write_text("not a config\n")
    proc = lbguard("check", "--no-native", str(tmp_path))
    assert f"{tmp_path / 'gen.sh'}:3:" in proc.stdout


def test_pre_commit_hook_covers_scripts_and_templates() -> None:
    import re

    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    pattern = re.search(r"files: '([^']+)'", text)
    assert pattern is not None
    for name in ("gen.sh", "haproxy.cfg.j2", "nginx.conf.erb", "lb.ctmpl", "x.tmpl", "a.cfg"):
        assert re.search(pattern.group(1), name), name


BAD = {
    "unterminated heredoc": ("gen.sh", "cat > haproxy.cfg <<EOF\nbackend app\n", "never closed"),
    "unterminated quote": ("gen.sh", "echo 'oops > haproxy.cfg\n", "cannot read this shell"),
    "template syntax error": ("nginx.conf.j2", "{% for x in y %}\n{{ x }\n", "syntax error"),
    "erb without end": ("haproxy.cfg.erb", "<% if @a %>\nbackend a\n", ""),
    "go template garbage": ("lb.ctmpl", "{{ range }}\n{{", ""),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_finding_never_a_traceback(case: str, tmp_path: Path) -> None:
    name, text, needle = BAD[case]
    path = tmp_path / name
    path.write_text(text)
    proc = lbguard("check", "--no-native", str(path))
    assert proc.returncode in (0, 1), proc.stderr
    assert needle in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--var", "not-a-name=1"], "--var expects NAME=VALUE"),
        (["--env", "/nonexistent.env"], "no such file"),
        (["--vars", "BADYAML"], "invalid YAML"),
        (["BINARY"], "binary file"),
    ],
)
def test_bad_options_are_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("a: [1\n")
    (tmp_path / "bin.sh").write_bytes(b"#!/bin/sh\n\x00\x01\x02")
    script = tmp_path / "gen.sh"
    script.write_text("echo hi\n")
    args = [str(tmp_path / "bad.yml") if a == "BADYAML" else a for a in args]
    paths = [str(tmp_path / "bin.sh")] if args == ["BINARY"] else [str(script)]
    if args == ["BINARY"]:
        args = []
    proc = lbguard("check", "--no-native", *args, *paths)
    assert proc.returncode == 2
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_huge_script_is_checked(tmp_path: Path) -> None:
    lines = ["#!/bin/bash", "cat > haproxy.cfg <<EOF", "backend app"]
    lines += [f"    server s{i} 10.0.{i // 250}.{i % 250 + 1}:80 check" for i in range(10_000)]
    lines += ["EOF", 'for i in $(seq 1 3000); do echo "# $i" >> haproxy.cfg; done']
    path = tmp_path / "gen.sh"
    path.write_text("\n".join(lines) + "\n")
    proc = lbguard("check", "--no-native", str(path))
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
    assert "error" not in proc.stdout.split("Found")[-1].split(",")[0] or "0 errors" in proc.stdout
