"""The authored scripts of the shared corpus: rendered byte for byte, each defect found
at its script line naming its variable, the correct ones clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CORPUS, require_haproxy, require_nginx, require_shared
from lbguard.findings import Finding, Severity
from lbguard.scripts.check import check_script
from lbguard.scripts.inputs import ScriptInputs, load_vars
from lbguard.scripts.jinja import render_jinja
from lbguard.settings import Settings
from scripts_helpers import analyse, example_env

SCRIPTS = CORPUS / "scripts"
SHELL = {
    "gen-haproxy-ok.sh": "gen-haproxy-ok.cfg",
    "gen-haproxy-template-ok.sh": "gen-haproxy-template-ok.cfg",
    "gen-nginx-ok.sh": "gen-nginx-ok.conf",
    "gen-nginx-envsubst-ok.sh": "gen-nginx-envsubst-ok.conf",
    "gen-haproxy-empty-var.sh": "gen-haproxy-empty-var.cfg",
    "gen-haproxy-typo.sh": "gen-haproxy-typo.cfg",
    "gen-haproxy-quoted-heredoc.sh": "gen-haproxy-quoted-heredoc.cfg",
    "gen-nginx-iphash-cdn.sh": "gen-nginx-iphash-cdn.conf",
    "gen-nginx-envsubst-clobber.sh": "gen-nginx-envsubst-clobber.conf",
}
CORRECT = (
    "gen-haproxy-ok.sh",
    "gen-haproxy-template-ok.sh",
    "gen-nginx-ok.sh",
    "gen-nginx-envsubst-ok.sh",
)
ANSIBLE = SCRIPTS / "ansible-haproxy"
ANSIBLE_VARS = [str(ANSIBLE / "site.yml"), str(ANSIBLE / "inventory.example.ini")]
# (script, code, script line, text the message must contain)
DEFECTS = [
    ("gen-haproxy-empty-var.sh", "LBG401", 38, "WEB2_IP"),
    ("gen-haproxy-empty-var.sh", "LBG105", 38, "WEB2_IP"),
    ("gen-haproxy-typo.sh", "PARSE", 36, "roundrobbin"),
    ("gen-haproxy-quoted-heredoc.sh", "LBG402", 20, "WEB1_IP"),
    ("gen-nginx-iphash-cdn.sh", "LBG109", 34, "ip_hash"),
    ("gen-nginx-envsubst-clobber.sh", "LBG403", 38, "$host"),
    ("gen-nginx-envsubst-clobber.sh", "LBG403", 39, "$remote_addr"),
    ("gen-nginx-envsubst-clobber.sh", "LBG403", 40, "$scheme"),
]


def _inputs(name: str) -> ScriptInputs:
    return ScriptInputs(environ=example_env((SCRIPTS / name).read_text()))


def _check(name: str, native: bool = False) -> list[Finding]:
    findings, sources = check_script(
        str(SCRIPTS / name), Settings(), env=_inputs(name), native=native
    )
    assert str(SCRIPTS / name) in sources
    return findings


@pytest.fixture(autouse=True)
def _shared() -> None:
    require_shared()


@pytest.mark.parametrize("name", list(SHELL))
def test_shell_script_renders_byte_for_byte(name: str) -> None:
    text = (SCRIPTS / name).read_text()
    env = example_env(text)
    outputs = {o.target: o.data.text for o in analyse(text, env).outputs}
    assert outputs[env["OUT"]] == (SCRIPTS / "rendered" / SHELL[name]).read_text()


def test_jinja_upstream_template_renders_byte_for_byte() -> None:
    path = SCRIPTS / "nginx-upstream.conf.j2"
    variables = json.loads((SCRIPTS / "nginx-upstream.example.json").read_text())
    render = render_jinja(str(path), path.read_text(), variables)
    assert render.exact
    assert render.text.text == (SCRIPTS / "rendered" / "nginx-upstream.conf").read_text()


def test_ansible_template_renders_byte_for_byte() -> None:
    path = ANSIBLE / "templates" / "haproxy.cfg.j2"
    render = render_jinja(str(path), path.read_text(), load_vars(ANSIBLE_VARS))
    assert render.text.text == (SCRIPTS / "rendered" / "ansible-haproxy.cfg").read_text()


@pytest.mark.parametrize(("name", "code", "line", "needle"), DEFECTS)
def test_defect_found_at_the_script_line(name: str, code: str, line: int, needle: str) -> None:
    found = [f for f in _check(name) if f.code == code and f.location.line == line]
    assert found, [(f.code, f.location.line) for f in _check(name)]
    assert any(needle in f.message for f in found)
    assert all(f.location.path == str(SCRIPTS / name) for f in found)


def test_ansible_backup_defect_at_the_template_line() -> None:
    path = ANSIBLE / "templates" / "haproxy.cfg.j2"
    inputs = ScriptInputs(template_vars=load_vars(ANSIBLE_VARS))
    findings, _ = check_script(str(path), Settings(), env=inputs, native=False)
    lbg101 = [f for f in findings if f.code == "LBG101"]
    assert [f.location.line for f in lbg101] == [26]
    assert "backup" in lbg101[0].message


@pytest.mark.parametrize("name", CORRECT)
def test_correct_scripts_are_clean(name: str) -> None:
    problems = [f for f in _check(name) if f.severity >= Severity.WARNING]
    assert problems == []


@pytest.mark.parametrize(
    ("name", "variables"),
    [("nginx-upstream.conf.j2", "nginx-upstream.example.json"), ("haproxy.cfg.erb", None)],
)
def test_correct_templates_are_clean(name: str, variables: str | None) -> None:
    inputs = ScriptInputs(
        template_vars=json.loads((SCRIPTS / variables).read_text()) if variables else None
    )
    findings, _ = check_script(str(SCRIPTS / name), Settings(), env=inputs, native=False)
    assert [f for f in findings if f.severity >= Severity.WARNING] == []


@pytest.mark.native
@pytest.mark.parametrize("name", CORRECT)
def test_correct_scripts_pass_the_native_check(name: str) -> None:
    require_haproxy()
    require_nginx()
    problems = [
        f for f in _check(name, native=True) if f.severity >= Severity.WARNING and not f.environment
    ]
    assert problems == []


@pytest.mark.native
def test_native_verdict_is_mapped_to_the_script_line() -> None:
    require_nginx()
    found = [f for f in _check("gen-nginx-envsubst-clobber.sh", native=True) if f.code == "NATIVE"]
    # nginx -t rejects `proxy_set_header Host ;` unless lbguard's own error already covers it.
    assert all(f.location.path.endswith("gen-nginx-envsubst-clobber.sh") for f in found)
    require_haproxy()
    typo = [f for f in _check("gen-haproxy-typo.sh", native=True) if f.code in ("PARSE", "NATIVE")]
    assert {f.location.line for f in typo} == {36}


def test_unset_example_variable_names_the_variable_and_its_source() -> None:
    name = "gen-haproxy-empty-var.sh"
    f = next(f for f in _check(name) if f.code == "LBG401")
    assert f.severity is Severity.ERROR
    assert "${WEB2_IP} is unset" in f.message and f.location.column == 19


def test_templates_dir_is_discovered(tmp_path: Path) -> None:
    from lbguard.scripts.check import is_script

    assert is_script(str(ANSIBLE / "templates" / "haproxy.cfg.j2"), "")
    assert is_script("x/templates/haproxy.cfg", "{% if a %}")
    assert not is_script("haproxy.cfg", "global\n")
    assert is_script("render", "#!/usr/bin/env bash\n")
