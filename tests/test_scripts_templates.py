"""Jinja2, ERB and Go templates: rendering, line mapping, undefined variables, stand-ins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbguard.findings import Finding, Severity
from lbguard.scripts.check import check_script
from lbguard.scripts.erb import render_erb
from lbguard.scripts.gotmpl import render_gotmpl
from lbguard.scripts.inputs import ScriptInputs, load_inventory, load_vars
from lbguard.scripts.jinja import TemplateRenderError, render_jinja
from lbguard.scripts.rendered import LineIndex
from lbguard.settings import Settings

HAPROXY_J2 = """\
{# a comment #}
global
    maxconn {{ maxconn }}
backend app
    balance {{ algo | default('roundrobin') }}
{% for s in servers %}
    server {{ s.name }} {{ s.ip }}:{{ s.port|default(80) }} check{{ ' backup' if s.backup|bool }}
{% endfor %}
"""


def _check(tmp_path: Path, name: str, text: str, variables: object = None) -> list[Finding]:
    path = tmp_path / name
    path.write_text(text)
    inputs = ScriptInputs(template_vars=variables)  # type: ignore[arg-type]
    findings, _ = check_script(str(path), Settings(), env=inputs, native=False)
    return findings


def test_jinja_renders_like_ansible_and_maps_lines() -> None:
    variables = {
        "maxconn": 100,
        "servers": [
            {"name": "a", "ip": "10.0.0.1"},
            {"name": "b", "ip": "10.0.0.2", "backup": "yes"},
        ],
    }
    render = render_jinja("haproxy.cfg.j2", HAPROXY_J2, variables)
    assert render.exact and render.target == "haproxy.cfg"
    assert render.text.text == (
        "global\n    maxconn 100\nbackend app\n    balance roundrobin\n"
        "    server a 10.0.0.1:80 check\n    server b 10.0.0.2:80 check backup\n"
    )
    index = LineIndex(HAPROXY_J2)
    rows = render.text.split_lines()
    assert [index.line(next(o for o in r.origins if o >= 0)) for r in rows if r.text] == [
        2,
        3,
        4,
        5,
        7,
        7,
    ]
    ip = rows[4].text.index("10.0.0.1")
    assert index.position(rows[4].origins[ip]) == (7, 25)  # the {{ s.ip }}


def test_undefined_variable_with_vars_is_reported_at_its_line(tmp_path: Path) -> None:
    found = _check(
        tmp_path,
        "haproxy.cfg.j2",
        HAPROXY_J2,
        {"servers": [{"name": "a", "ip": "10.0.0.1"}, {"name": "b"}]},
    )
    codes = {(f.code, f.location.line) for f in found}
    assert ("SCRIPT", 3) in codes  # maxconn undefined
    assert ("LBG401", 7) in codes  # s.ip undefined in a server line
    msg = next(f.message for f in found if f.code == "SCRIPT" and f.location.line == 3)
    assert "maxconn" in msg and "undefined" in msg


def test_no_vars_means_standins_and_no_guesses(tmp_path: Path) -> None:
    found = _check(tmp_path, "haproxy.cfg.j2", HAPROXY_J2)
    # Only what the static text says (no timeouts) is reported, nothing about the values.
    assert {f.code for f in found if f.severity >= Severity.WARNING} == {"LBG204"}
    assert any("stand-ins" in f.message for f in found)


def test_ansible_filters_are_provided_or_stubbed_with_a_note() -> None:
    text = (
        "{{ x | to_json }} {{ 'yes' | bool }} {{ 'a-b' | regex_replace('-', '_') }} "
        "{{ ip | ipaddr }} {{ y | mandatory }}\n"
    )
    render = render_jinja("t.conf.j2", text, {"x": {"a": 1}, "ip": "10.0.0.1", "y": 1})
    assert render.text.text == '{"a": 1} True a_b 10.0.0.1 1\n'
    assert any("ipaddr" in n.message for n in render.notes)
    with pytest.raises(TemplateRenderError) as info:
        render_jinja("t.conf.j2", "a\n{{ y | mandatory }}\n", {})
    assert info.value.line == 2


def test_template_syntax_error_is_one_finding(tmp_path: Path) -> None:
    found = _check(tmp_path, "nginx.conf.j2", "upstream a {\n{% for x in y %}\n}\n", {})
    assert [(f.code, f.location.line, f.severity) for f in found] == [("PARSE", 3, Severity.ERROR)]


def test_sandbox_refuses_unsafe_templates(tmp_path: Path) -> None:
    render = render_jinja("x.conf.j2", "{{ ''.__class__.__mro__ }}\n", {})
    assert "class" not in render.text.text
    found = _check(tmp_path, "x.conf.j2", "{% for i in range(10**9) %}{% endfor %}\n", {})
    assert [(f.code, f.severity) for f in found] == [("PARSE", Severity.ERROR)]


def test_inventory_and_group_vars_layout(tmp_path: Path) -> None:
    inv = load_inventory(
        "[web]\nw1 ansible_host=10.0.0.1\n[lb:children]\nweb\n[web:vars]\nport=81\n"
    )
    assert inv["groups"]["web"] == ["w1"] and inv["groups"]["lb"] == ["w1"]
    assert inv["hostvars"]["w1"] == {
        "inventory_hostname": "w1",
        "ansible_host": "10.0.0.1",
        "port": 81,
    }
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("a: 1\nb: 1\n")
    (tmp_path / "group_vars" / "lb.yml").write_text("b: 2\n")
    assert load_vars([str(tmp_path)]) == {"a": 1, "b": 2}


def test_erb_keeps_static_text_and_uses_standins(tmp_path: Path) -> None:
    text = (
        "backend app\n    balance <%= @balance %>\n<% @members.each do |m| -%>\n"
        "    server <%= m['name'] %> <%= m['ip'] %>:<%= m['port'] %> check maxconn "
        "<%= @max %><%= m['off'] ? ' disabled' : '' %>\n<% end -%>\n"
        "<%# comment -%>\n    <%- if @x -%>\n    option redispatch\n<% else -%>\n    skipped\n"
        "<% end -%>\n"
    )
    render = render_erb("haproxy.cfg.erb", text)
    rows = render.text.text.split("\n")
    assert rows[0:2] == ["backend app", "    balance roundrobin"]
    assert rows[2].startswith("    server standin") and ":80" in rows[2]
    assert re.search(r"check maxconn \d+$", rows[2])
    assert "skipped" not in render.text.text and "option redispatch" in render.text.text
    found = _check(tmp_path, "haproxy.cfg.erb", text)
    assert {f.code for f in found if f.severity >= Severity.WARNING} == {"LBG204"}
    assert any(f.location.line == 3 and "loop body" in f.message for f in found)


def test_erb_finds_static_mistakes(tmp_path: Path) -> None:
    text = "backend app\n    balance roundrobbin\n    server a <%= @ip %>:80 check\n"
    found = _check(tmp_path, "haproxy.cfg.erb", text)
    assert any(f.code == "PARSE" and f.location.line == 2 for f in found)


def test_go_template_keeps_static_text(tmp_path: Path) -> None:
    text = (
        'upstream app {\n{{- range service "web" }}\n    server {{ .Address }}:{{ .Port }};'
        '\n{{- end }}\n    keepalive {{ "16" }};\n}\n'
        "server { listen 80; location / { proxy_pass http://app; } }\n"
    )
    render = render_gotmpl("nginx.conf.ctmpl", text)
    assert render.text.text.startswith("upstream app {\n    server 192.0.2.")
    assert "keepalive 16;" in render.text.text
    found = _check(tmp_path, "nginx.conf.ctmpl", text)
    assert [f for f in found if f.severity >= Severity.WARNING] == []
    assert any("range" in f.message for f in found)


def test_strict_undefined_stops_at_the_first_undefined_variable(tmp_path: Path) -> None:
    import json as _json
    import subprocess as _sp
    import sys as _sys

    tpl = tmp_path / "haproxy.cfg.j2"
    tpl.write_text(
        "backend app\n    balance roundrobin\n{% for h in hosts %}\n"
        "    server {{ h.name }} {{ h.ip }}:{{ port }} check\n{% endfor %}\n"
    )
    variables = tmp_path / "vars.json"
    variables.write_text('{"hosts": [{"name": "a", "ip": "10.0.0.1"}]}')

    def run(*extra: str) -> list[tuple[str, int]]:
        proc = _sp.run(
            [
                _sys.executable,
                "-m",
                "lbguard",
                "check",
                "--no-native",
                "--format",
                "json",
                "--vars",
                str(variables),
                *extra,
                str(tpl),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return [(f["code"], f["line"]) for f in _json.loads(proc.stdout)["findings"]]

    assert ("LBG401", 4) in run()
    assert run("--strict-undefined") == [("PARSE", 4)]
