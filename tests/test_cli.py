"""The command line as users and CI meet it: exit codes, formats, bad input, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, require_haproxy

INCIDENT = EXAMPLES / "incident" / "haproxy.cfg"
FIXED = EXAMPLES / "incident" / "haproxy.fixed.cfg"


def lbguard(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("LBGUARD_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "lbguard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=120,
    )


def test_incident_config_fails_with_the_server_named() -> None:
    proc = lbguard("check", "--no-native", str(INCIDENT))
    assert proc.returncode == 1, proc.stderr
    assert "web-01" in proc.stdout and "100%" in proc.stdout
    assert "LBG101" in proc.stdout and "LBG105" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_fixed_twin_is_clean() -> None:
    proc = lbguard("check", "--no-native", str(FIXED))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_json_contract() -> None:
    proc = lbguard("check", "--no-native", "--format", "json", str(INCIDENT))
    data = json.loads(proc.stdout)
    assert data["version"] == 1
    assert set(data["summary"]) == {"files", "errors", "warnings", "infos"}
    keys = {
        "code",
        "rule",
        "severity",
        "message",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "context",
    }
    assert data["findings"] and all(set(f) == keys for f in data["findings"])
    codes = {(f["code"], f["line"]) for f in data["findings"]}
    assert ("LBG101", 28) in codes and ("LBG105", 30) in codes
    web3 = next(f for f in data["findings"] if f["code"] == "LBG105")
    assert web3["column"] == 19 and web3["path"] == str(INCIDENT)


def test_fail_on_error_ignores_warnings(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(FIXED.read_text().replace("10.0.1.11:8080", "10.0.1.11:8080 weight 50"))
    assert lbguard("check", "--no-native", str(cfg)).returncode == 1
    assert lbguard("check", "--no-native", "--fail-on", "error", str(cfg)).returncode == 0
    assert lbguard("check", "--no-native", "--fail-on", "bogus", str(cfg)).returncode == 2


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("missing", "no such file"),
        ("emptydir", "no config files"),
        ("binary", "binary file"),
        ("latin1", "not valid UTF-8"),
        ("huge", "over lbguard's limit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, setup: str, expect: str) -> None:
    target = tmp_path / "haproxy.cfg"
    if setup == "emptydir":
        target = tmp_path / "empty"
        target.mkdir()
        (target / "notes.txt").write_text("hi")
    elif setup == "binary":
        target.write_bytes(b"global\n\x00\x01\x02")
    elif setup == "latin1":
        target.write_bytes("backend caf\xe9\n".encode("latin-1"))
    elif setup == "huge":
        with target.open("wb") as fh:
            fh.truncate(100 * 1024 * 1024)
    proc = lbguard("check", "--no-native", str(target))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and expect in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_permission_denied_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads any file, so the denial is injected where lbguard opens the file."""
    from click.testing import CliRunner

    from lbguard.cli import main

    target = tmp_path / "haproxy.cfg"
    target.write_text("backend app\n")

    def deny(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", deny)
    result = CliRunner().invoke(main, ["check", "--no-native", str(target)])
    assert result.exit_code == 2
    assert result.output.strip() == f"lbguard: error: {target}: permission denied"


SECRETS = """\
global
    maxconn 100
userlist admins
    user ops password $6$abcdefgh$SECRETHASHVALUE0123456789
    user dev insecure-password hunter2hunter2
defaults
    timeout connect 5s
    timeout client 5s
    timeout server 5s
listen stats
    bind 127.0.0.1:8404
    stats enable
    stats auth admin:s3cr3tpassw0rd
    stats auth admin2 s3cr3tpassw0rd broken
    server a 10.0.0.1:80
"""


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github"])
def test_secrets_never_printed(tmp_path: Path, fmt: str) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(SECRETS)
    proc = lbguard("check", "--format", fmt, str(cfg))
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), out
    for secret in ("SECRETHASHVALUE", "hunter2hunter2", "s3cr3tpassw0rd"):
        assert secret not in out, f"{secret} leaked in {fmt} output"


def test_explain_and_rules() -> None:
    proc = lbguard("explain", "LBG101")
    assert proc.returncode == 0 and "Why is this bad?" in proc.stdout
    assert lbguard("explain", "single-active-server").returncode == 0
    bad = lbguard("explain", "LBG999")
    assert bad.returncode == 2 and "unknown rule" in bad.stderr
    listing = lbguard("rules")
    assert "LBG105" in listing.stdout and "empty-server-address" in listing.stdout


def test_settings_file_unknown_key_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "lbguard.toml").write_text('fail-on = "error"\n[rules.LBG103]\nmax-shar = 0.5\n')
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(FIXED.read_text())
    proc = lbguard("check", "--no-native", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2
    assert "max-shar" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_settings_threshold_and_disable(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(INCIDENT.read_text())
    (tmp_path / "lbguard.toml").write_text(
        'disable = ["LBG101", "empty-server-address", "predicted-concentration"]\n'
    )
    proc = lbguard("check", "--no-native", str(cfg), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout


def test_unused_and_reasonless_suppressions_are_reported(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        FIXED.read_text()
        + "    # lbguard: ignore=LBG103 weights are fine\n"
        + "    # lbguard: ignore=LBG101\n"
    )
    proc = lbguard("check", "--no-native", "--format", "json", str(cfg))
    # LBG207 (info) suggests an overload signal for any checked pool; not the subject here.
    codes = [f["code"] for f in json.loads(proc.stdout)["findings"] if f["code"] != "LBG207"]
    assert sorted(codes) == ["LBG900", "LBG901"]


@pytest.mark.native
def test_native_findings_are_located_and_deduplicated(tmp_path: Path) -> None:
    require_haproxy()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "defaults\n    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n"
        "frontend www\n    bind 127.0.0.1:8080\n    default_backend app\n"
        "backend app\n    balance roundrobbin\n    server a 10.0.0.1:80\n"
        "    errorfile 503 /nonexistent/503.http\n"
    )
    proc = lbguard("check", "--format", "json", str(cfg))
    findings = json.loads(proc.stdout)["findings"]
    at9 = [f for f in findings if f["line"] == 9]
    assert [f["code"] for f in at9] == ["PARSE"], at9
    native = [f for f in findings if f["code"] == "NATIVE"]
    assert any(f["line"] == 11 and "503" in f["message"] for f in native), findings


NGINX_SECRETS = """\
events {}
http {
    upstream app { server 10.0.0.1:8080; server 10.0.0.2:8080; }
    server {
        listen 80;
        location / {
            proxy_pass http://app;
            proxy_set_header Authorization "Basic c3VwZXJzZWNyZXQ=";
            proxy_set_header X-Api-Key topsecretapikey123;
            fastcgi_param HTTP_AUTHORIZATION "Bearer tok3nv4lue";
            proxy_set_header Host $host
        }
    }
}
"""


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github"])
def test_nginx_secrets_never_printed(tmp_path: Path, fmt: str) -> None:
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(NGINX_SECRETS)
    proc = lbguard("check", "--format", fmt, str(cfg))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out  # the missing ';' on line 11 is reported
    assert "11" in out
    for secret in ("c3VwZXJzZWNyZXQ", "topsecretapikey123", "tok3nv4lue"):
        assert secret not in out, f"{secret} leaked in {fmt} output"


def test_nginx_missing_semicolon_reported_once(tmp_path: Path) -> None:
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(NGINX_SECRETS)
    findings = json.loads(lbguard("check", "--format", "json", str(cfg)).stdout)["findings"]
    findings = [f for f in findings if f["code"] != "LBG207"]  # info: an overload signal
    assert [(f["code"], f["line"]) for f in findings] == [("PARSE", 11)]


@pytest.mark.parametrize(
    ("setup", "expect"),
    [("binary", "binary file"), ("missing", "no such file")],
)
def test_nginx_bad_input(tmp_path: Path, setup: str, expect: str) -> None:
    target = tmp_path / "nginx.conf"
    if setup == "binary":
        target.write_bytes(b"events {}\n\x00\x01")
    proc = lbguard("check", "--dialect", "nginx", str(target))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and expect in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_command_starts_openblas_with_one_thread_unless_told_otherwise() -> None:
    """lbguard's numpy work needs no BLAS threads; their start-up spin cost ~70 ms CPU."""
    probe = (
        "import os, sys\n"
        "from lbguard import cli\n"
        "sys.argv = ['lbguard', '--version']\n"
        "try:\n"
        "    cli.run()\n"
        "except SystemExit:\n"
        "    print(os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split()[-1] == "1", proc.stderr
    env["OPENBLAS_NUM_THREADS"] = "4"
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split()[-1] == "4", proc.stderr
