"""Running state against the file, through a real HAProxy's runtime API."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from haproxy_process import Running, running_haproxy
from lbguard.cli import main
from lbguard.haproxy_runtime import (
    RuntimeAPIError,
    RuntimeClient,
    parse_endpoint,
    parse_servers_state,
    parse_stat_csv,
)


def _audit(run: Running, tmp: Path) -> tuple[int, list[dict[str, object]]]:
    store = f"sqlite:///{tmp / 'lbguard.db'}"
    args = ["--no-native", "--haproxy-stats", f"unix:{run.admin}", str(run.config)]
    result = CliRunner().invoke(
        main, ["audit", "--format", "json", *args], env={"LBGUARD_STORE": store}
    )
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    runtime_kinds = ("runtime-mismatch", "stale-reload")
    return result.exit_code, [f for f in doc["findings"] if f["kind"] in runtime_kinds]


def _approve(run: Running, tmp: Path) -> None:
    store = f"sqlite:///{tmp / 'lbguard.db'}"
    result = CliRunner().invoke(
        main,
        ["baseline", "approve", "--no-native", str(run.config)],
        env={"LBGUARD_STORE": store},
    )
    assert result.exit_code == 0, result.output


@pytest.mark.native
def test_hand_made_runtime_changes_are_reported(haproxy_bin: str, tmp_path: Path) -> None:
    with running_haproxy(haproxy_bin, tmp_path) as run:
        _approve(run, tmp_path)
        code, found = _audit(run, tmp_path)
        assert (code, found) == (0, [])
        run.runtime("set server app/web-02 state drain")
        run.runtime("set server app/web-03 state maint")
        run.runtime("set weight app/web-01 7")
        code, found = _audit(run, tmp_path)
        assert code == 1
        got = {(f["kind"], f["server"]) for f in found}
        assert got == {
            ("runtime-mismatch", "web-01"),
            ("runtime-mismatch", "web-02"),
            ("runtime-mismatch", "web-03"),
        }
        by_server = {f["server"]: f for f in found}
        assert "draining" in str(by_server["web-02"]["message"])
        assert "maintenance" in str(by_server["web-03"]["message"])
        assert "weight 7, the file says 1" in str(by_server["web-01"]["message"])
        assert (
            by_server["web-02"]["runbook_url"] == "https://lbguard.dev/runbooks/runtime-mismatch/"
        )
        assert by_server["web-02"]["line"] == 18


@pytest.mark.native
def test_file_changed_without_reload_is_stale(haproxy_bin: str, tmp_path: Path) -> None:
    with running_haproxy(haproxy_bin, tmp_path) as run:
        _approve(run, tmp_path)
        text = run.config.read_text()
        port = run.stub_ports["web-01"]
        edited = text.replace(
            f"server web-01 127.0.0.1:{port} check",
            f"server web-01 127.0.0.1:{port} check weight 4\n"
            f"    server web-04 127.0.0.1:{port} check",
        )
        run.config.write_text(edited)
        future = time.time() + 5
        os.utime(run.config, (future, future))
        _code, found = _audit(run, tmp_path)
        kinds = {(f["kind"], f["server"], f["severity"]) for f in found}
        assert ("stale-reload", "web-04", "error") in kinds
        assert ("stale-reload", "web-01", "warning") in kinds  # loaded with weight 1, file says 4
        assert any(
            f["server"] is None and "after the running HAProxy process started" in str(f["message"])
            for f in found
        )
        os.utime(run.config, None)
        run.reload()
        deadline = time.monotonic() + 20
        while True:
            _code, found = _audit(run, tmp_path)
            if not found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert found == []


@pytest.mark.native
def test_socket_problems_are_one_line_errors(haproxy_bin: str, tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("backend app\n    server a 127.0.0.1:1\n")
    store = f"sqlite:///{tmp_path / 'lbguard.db'}"
    for stats, word in (
        (f"unix:{tmp_path / 'missing.sock'}", "no such socket"),
        ("127.0.0.1:1", "connection refused"),
        ("nonsense", "expected unix:PATH or HOST:PORT"),
    ):
        result = CliRunner().invoke(
            main,
            ["audit", "--no-native", "--haproxy-stats", stats, str(cfg)],
            env={"LBGUARD_STORE": store},
        )
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and word in result.stderr, result.stderr


def test_csv_is_read_by_header_not_position() -> None:
    text = "# svname,pxname,status,weight,extra\nweb-01,app,UP,3,x\nBACKEND,app,UP,3,\n\n"
    rows = parse_stat_csv(text)
    assert rows[0] == {
        "svname": "web-01",
        "pxname": "app",
        "status": "UP",
        "weight": "3",
        "extra": "x",
    }
    state = parse_servers_state(
        "1\n# srv_name be_name srv_admin_state srv_uweight\nweb-01 app 8 0\n"
    )
    assert state == [
        {"srv_name": "web-01", "be_name": "app", "srv_admin_state": "8", "srv_uweight": "0"}
    ]
    with pytest.raises(RuntimeAPIError, match="header"):
        parse_stat_csv("web-01,app\n")


def test_endpoints() -> None:
    assert parse_endpoint("unix:/run/haproxy/admin.sock").path == "/run/haproxy/admin.sock"
    assert parse_endpoint("/run/h.sock").path == "/run/h.sock"
    ep = parse_endpoint("[::1]:9999")
    assert (ep.host, ep.port) == ("::1", 9999)
    for bad in ("unix:", "host:", "host:99999", "nonsense"):
        with pytest.raises(RuntimeAPIError):
            parse_endpoint(bad)
    with pytest.raises(RuntimeAPIError, match="multi-command"):
        RuntimeClient("/nowhere.sock").command("show info; shutdown sessions")
