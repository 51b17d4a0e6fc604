"""`check` without a settings file runs on defaults that answer exactly as `Settings()`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lbguard.findings import Severity
from lbguard.rule_settings import DEFAULTS, load_check_settings, load_command_settings
from lbguard.rules import RULES
from lbguard.settings import Settings

INCIDENT = Path(__file__).parent.parent / "examples" / "incident" / "haproxy.cfg"


def test_defaults_answer_as_settings_with_no_file_would() -> None:
    full = Settings()
    assert DEFAULTS.native == full.native
    assert DEFAULTS.severity_threshold() == full.severity_threshold()
    assert DEFAULTS.active_rules() == full.active_rules()
    for rule in RULES:
        assert DEFAULTS.options_for(rule.code) == full.options_for(rule.code), rule.code
    assert DEFAULTS.store == full.store
    assert DEFAULTS.audit.files == full.audit.files == ()
    assert DEFAULTS.without_audit_files().audit.files == ()


def test_without_audit_files_keeps_everything_else(tmp_path: Path) -> None:
    (tmp_path / "lbguard.toml").write_text(
        'fail-on = "error"\nstore = "sqlite:///x.db"\n[[audit.files]]\npath = "/etc/hosts"\n'
    )
    found = load_command_settings(tmp_path / "lbguard.toml")
    assert [f.path for f in found.audit.files] == ["/etc/hosts"]
    bare = found.without_audit_files()
    assert bare.audit.files == ()
    assert (bare.store, bare.severity_threshold()) == ("sqlite:///x.db", Severity.ERROR)


def test_a_settings_file_is_still_validated(tmp_path: Path) -> None:
    (tmp_path / "lbguard.toml").write_text('disable = ["LBG101"]\n')
    found = load_check_settings(tmp_path / "lbguard.toml")
    assert isinstance(found, Settings)
    assert "LBG101" not in found.active_rules()


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--no-native", "--format", "json"],
        ["check", "--no-native", "--format", "json", "--record"],
        ["audit", "--no-native", "--format", "json"],
    ],
    ids=["check", "check --record", "audit"],
)
def test_without_a_settings_file_pydantic_is_not_imported(
    tmp_path: Path, command: list[str]
) -> None:
    probe = (
        "import os, sys\n"
        "os.environ['LBGUARD_STORE'] = 'sqlite:///lbguard.db'\n"
        "from lbguard.cli import main\n"
        "try:\n"
        f"    main({[*command, str(INCIDENT)]!r})\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, any(m.split('.')[0] == 'pydantic' for m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split()[-2:] == ["1", "False"], proc.stderr
    # With a settings file, the same command validates it (and so imports pydantic).
    (tmp_path / "lbguard.toml").write_text('fail-on = "error"\n')
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split()[-1] == "True", proc.stderr
