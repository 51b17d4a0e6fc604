"""Property: for scripts whose variables are all set, lbguard writes what bash writes.

Scripts are generated from the constructs config generators use (heredocs of every
flavour, echo/printf appends, loops over lists and ranges, `+=` and `$((...))`), run
with the real bash in a temporary directory (reload commands stubbed on PATH), and
lbguard's extraction must equal the files bash wrote, byte for byte.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts_helpers import rendered, run_shell

VALUES = st.sampled_from(["10.0.0.1", "10.0.0.2:8080", "web", "8080", "a b", "x-1", "0"])
NAMES = ["IP", "PORT", "NAME", "W"]
WORD = st.sampled_from(["server", "backend", "check", "weight", "maxconn", "10", "app", ";"])


@st.composite
def text_line(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            parts.append(draw(WORD))
        elif kind == 1:
            parts.append("${" + draw(st.sampled_from(NAMES)) + "}")
        elif kind == 2:
            parts.append("$" + draw(st.sampled_from(NAMES)))
        else:
            parts.append(
                draw(
                    st.sampled_from(
                        ["${IP}:${PORT}", "$((W + 1))", "${NAME:-dflt}", "\\$host", "${i}"]
                    )
                )
            )
    return "    " + " ".join(parts)


@st.composite
def statement(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 7 if depth == 0 else 5))
    target = draw(st.sampled_from(["a.cfg", "b.conf"]))
    if kind == 0:
        lines = "\n".join(draw(st.lists(text_line(), min_size=1, max_size=3)))
        op = draw(st.sampled_from([">", ">>"]))
        form = draw(st.integers(0, 2))
        if form == 0:
            return f"cat {op} {target} <<EOF\n{lines}\nEOF"
        if form == 1:
            return f"cat <<EOF {op} {target}\n{lines}\nEOF"
        return f"tee {'-a ' if op == '>>' else ''}{target} >/dev/null <<EOF\n{lines}\nEOF"
    if kind == 1:
        lines = "\n".join(
            "\t" + line for line in draw(st.lists(text_line(), min_size=1, max_size=2))
        )
        return f"cat >> {target} <<-EOF\n{lines}\n\tEOF"
    if kind == 2:
        line = draw(text_line())
        return f"cat >> {target} <<'EOF'\n{line}\nEOF"
    if kind == 3:
        line = draw(text_line()).replace('"', "")
        return f'echo "{line}" >> {target}'
    if kind == 4:
        fmt = draw(st.sampled_from(["%s:%s", "srv-%02d %s", "%s %d", "%-6s|"]))
        args = " ".join(f'"${draw(st.sampled_from(NAMES))}"' for _ in range(2))
        return f"printf '    {fmt}\\n' {args} >> {target}"
    if kind == 5:
        name = draw(st.sampled_from(["LIST", "ACC"]))
        return f'{name}+="{draw(st.sampled_from(NAMES))}-$' + '{IP} "' + "$'\\n'"
    if kind == 6:
        items = draw(st.sampled_from(["1 2 3", "{1..3}", "$(seq 2 3)", "$LIST", "a b"]))
        body = "\n".join(draw(st.lists(statement(depth + 1), min_size=1, max_size=2)))
        return f"i=0\nfor x in {items}; do\n{body}\ni=$((i + 1))\ndone"
    body = "\n".join(draw(st.lists(statement(depth + 1), min_size=1, max_size=3)))
    return f"{{\n{body}\n}} > {target}"


@st.composite
def script(draw: st.DrawFn) -> str:
    statements = draw(st.lists(statement(), min_size=1, max_size=5))
    tail = draw(
        st.sampled_from(["", "cat > c.cfg <<EOF\n${ACC}${LIST}\nEOF", "systemctl reload haproxy"])
    )
    return "#!/bin/bash\nACC=''\n" + "\n".join(statements) + "\n" + tail + "\n"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script(), st.fixed_dictionaries({n: VALUES for n in NAMES}), VALUES)
def test_extraction_equals_what_bash_writes(text: str, env: dict[str, str], lst: str) -> None:
    env = {**env, "LIST": lst, "W": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        expected = run_shell(text, Path(tmp), env)
    assert rendered(text, env) == expected
