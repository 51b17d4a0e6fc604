"""Fast paths for the common case must answer exactly as the general code does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbguard.parsers.nginx import split_address
from test_cli import lbguard


@pytest.mark.parametrize(
    ("address", "default", "expected"),
    [
        ("10.0.0.1:8080", 80, ("10.0.0.1", 8080, "")),
        ("app.internal:1", None, ("app.internal", 1, "")),
        ("a:65535", 80, ("a", 65535, "")),
        ("a:65536", 80, ("a", None, "invalid port")),
        ("a:0", 80, ("a", None, "invalid port")),
        ("UNIX:80", 80, ("UNIX:80", None, "")),
        ("unix:/run/app.sock", None, ("unix:/run/app.sock", None, "")),
        ("[::1]:80", 80, ("::1", 80, "")),
        ("a/b:80", 80, (None, None, "invalid host")),
        ("a?:80", 80, (None, None, "invalid host")),
        (":80", 80, (None, 80, "no host")),
        ("a:8080:1", 80, ("a", None, "invalid port")),
        ("a:\u0663", 80, ("a", 3, "")),  # nginx's \d: an Arabic-Indic digit
        ("a:\u00b2", 80, ("a", None, "invalid port")),  # a superscript is no digit
        ("a:+80", 80, ("a", None, "invalid port")),
        ("host", 80, ("host", 80, "")),
        ("host", None, ("host", None, "no port")),
    ],
)
def test_nginx_split_address(
    address: str, default: int | None, expected: tuple[str | None, int | None, str]
) -> None:
    assert split_address(address, default) == expected


def test_check_exits_early_with_the_whole_report(tmp_path: Path) -> None:
    """`lbguard check` skips interpreter teardown: the report must still be complete."""
    lines = ["defaults", "    timeout connect 5s", "frontend www", "    bind :80"]
    lines += [f"    use_backend b{i} if {{ path_beg /{i} }}" for i in range(400)]
    for i in range(400):
        lines += [f"backend b{i}", "    balance source"]
        lines += [f"    server s{j} 10.0.{i % 250}.{j + 1}:80" for j in range(3)]
    config = tmp_path / "big.cfg"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "report.json"
    for extra in ([], ["-o", str(out)]):
        proc = lbguard("check", "--no-native", "--format", "json", *extra, str(config))
        assert proc.returncode == 1, proc.stderr
        data = json.loads(out.read_text(encoding="utf-8") if extra else proc.stdout)
        summary = data["summary"]
        assert len(data["findings"]) == summary["errors"] + summary["warnings"] + summary["infos"]
        assert len(data["findings"]) > 400


def test_keep_holds_nothing_unless_the_process_exits_without_teardown() -> None:
    """Only the console script's check keeps its model to the end; a library caller frees."""
    import subprocess
    import sys

    probe = (
        "import gc, weakref\n"
        "from lbguard import util\n"
        "class Model: pass\n"
        "m = Model(); ref = weakref.ref(m); util.keep(m); del m\n"
        "print(ref() is None)\n"
        "util.keep_until_exit()\n"
        "gc.enable()\n"
        "with util.without_gc():\n"
        "    m = Model(); ref = weakref.ref(m); util.keep(m); del m\n"
        "print(ref() is not None, gc.get_freeze_count() > 0, gc.isenabled())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["True", "True", "True", "True"]


def test_the_console_check_keeps_its_model_and_main_does_not(tmp_path: Path) -> None:
    from lbguard import cli, util

    config = tmp_path / "haproxy.cfg"
    config.write_text("defaults\n    timeout connect 5s\nbackend b\n    server a 10.0.0.1:80\n")
    from click.testing import CliRunner

    assert util._kept is None
    CliRunner().invoke(cli.main, ["check", "--no-native", str(config)])
    assert util._kept is None, "an in-process check (tests, embedding) must free what it built"
