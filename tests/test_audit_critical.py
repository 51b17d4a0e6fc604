"""Other critical configs: content drift against the baseline hash, validators that run
without a shell and with a timeout, and unreadable files reported, not fatal."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lbguard.audit.critical import audit_files, validate
from lbguard.cli import main
from lbguard.settings import CriticalFile, load_settings

LB = "backend app\n    balance roundrobin\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n"


def _setup(tmp_path: Path, files: str) -> tuple[Path, Path]:
    (tmp_path / "lb.cfg").write_text(LB)
    settings = tmp_path / "lbguard.toml"
    settings.write_text(files)
    return tmp_path / "lb.cfg", settings


def _run(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, list(args), env={"LBGUARD_STORE": f"sqlite:///{tmp_path / 'lbguard.db'}"}
    )


def test_content_drift_validator_and_unreadable_file(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    (etc / "sudoers.d").mkdir(parents=True)
    (etc / "sshd_config").write_text("PermitRootLogin no\n")
    (etc / "sudoers.d" / "ops").write_text("ops ALL=(ALL) ALL\n")
    py = sys.executable
    validator = [py, "-c", "import sys; t=open(sys.argv[1]).read(); sys.exit('yes' in t)", "{}"]
    lb, settings = _setup(
        tmp_path,
        f"[[audit.files]]\npath = '{etc / 'sshd_config'}'\nvalidator = {json.dumps(validator)}\n"
        f"[[audit.files]]\npath = '{etc / 'sudoers.d' / '*'}'\n"
        f"[[audit.files]]\npath = '{etc / 'missing.conf'}'\n",
    )
    s = ["--settings", str(settings)]
    assert _run(tmp_path, "baseline", "approve", "--no-native", *s, str(lb)).exit_code == 0
    clean = _run(tmp_path, "audit", "--no-native", "--format", "json", *s, str(lb))
    doc = json.loads(clean.stdout)
    kinds = [(f["kind"], Path(f["path"]).name) for f in doc["findings"]]
    assert kinds == [("unreadable-file", "missing.conf")]
    assert doc["findings"][0]["severity"] == "error"
    (etc / "sshd_config").write_text("PermitRootLogin yes\n")  # drift, and the validator fails
    (etc / "sudoers.d" / "extra").write_text("dev ALL=(ALL) NOPASSWD: ALL\n")  # new file
    after = _run(tmp_path, "audit", "--no-native", "--format", "json", *s, str(lb))
    assert after.exit_code == 1
    found = {(f["kind"], Path(f["path"]).name) for f in json.loads(after.stdout)["findings"]}
    assert found == {
        ("unreadable-file", "missing.conf"),
        ("drift", "sshd_config"),
        ("drift", "extra"),
        ("validator-failure", "sshd_config"),
    }


def test_validator_timeout_and_missing_binary(tmp_path: Path) -> None:
    target = tmp_path / "f.conf"
    target.write_text("x\n")
    sleepy = CriticalFile(
        path=str(target),
        validator=(sys.executable, "-c", "import time; time.sleep(30)"),
        timeout=0.5,
    )
    problem = validate(str(target), sleepy)
    assert problem is not None and "did not finish within 0.5 s" in problem
    missing = CriticalFile(path=str(target), validator=("no-such-validator-xyz", "{}"))
    problem = validate(str(target), missing)
    assert problem is not None and "not installed" in problem


def test_validator_never_goes_through_a_shell(tmp_path: Path) -> None:
    """A file name full of shell syntax is one argument, never a command."""
    evil = tmp_path / "$(touch pwned);touch pwned2;.conf"
    evil.write_text("x\n")
    echo = shutil.which("echo") or "/bin/echo"
    entry = CriticalFile(path=str(tmp_path / "*.conf"), validator=(echo, "{}"))
    findings, seen = audit_files([entry], None)
    assert findings == [] and list(seen) == [str(evil)]
    assert not list(tmp_path.glob("pwned*"))
    assert not (Path.cwd() / "pwned").exists()


def test_validator_as_a_string_is_split_not_shelled(tmp_path: Path) -> None:
    cfg = tmp_path / "lbguard.toml"
    cfg.write_text("[[audit.files]]\npath = '/etc/x'\nvalidator = \"sshd -t -f '{}'\"\n")
    settings, _ = load_settings(cfg)
    assert settings.audit.files[0].validator == ("sshd", "-t", "-f", "{}")


def test_unknown_audit_setting_is_rejected_by_name(tmp_path: Path) -> None:
    lb, settings = _setup(tmp_path, "[[audit.files]]\npath = '/etc/x'\nvalidater = ['true']\n")
    result = _run(tmp_path, "audit", "--no-native", "--settings", str(settings), str(lb))
    assert result.exit_code == 2
    assert "unknown key 'audit.files.0.validater'" in result.stderr


@pytest.mark.native
def test_a_real_validator_haproxy_c(haproxy_bin: str, tmp_path: Path) -> None:
    good = tmp_path / "other.cfg"
    good.write_text("frontend f\n    bind 127.0.0.1:1\n    timeout client 1s\n")
    entry = CriticalFile(path=str(good), validator=(haproxy_bin, "-c", "-f", "{}"))
    assert validate(str(good), entry) is None
    good.write_text("frontend f\n    bind 127.0.0.1:1\n    balance roundrobbin\n")
    problem = validate(str(good), entry)
    assert problem is not None and "exited" in problem
