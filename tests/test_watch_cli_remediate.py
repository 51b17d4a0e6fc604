"""`lbguard watch --remediate` and `--probe` as users meet them: bad combinations exit 2 with
one line, and the daemon run from the command line prints its dry-run commands."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lbguard.haproxy_runtime import RuntimeClient
from lbguard.sandbox.run import stop_group
from test_cli import lbguard
from watch_e2e import Load, _spawn, running_haproxy, watch_daemon

NGINX_CONF = "events {}\nhttp { upstream app { server 10.9.9.9:80; } }\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--haproxy-stats", "unix:/x", "--apply"), "--apply sends remediation commands"),
        (("--haproxy-stats", "http://admin:s3cret@127.0.0.1:1/stats", "--remediate"),
         "is a read-only statistics page"),
        (("--haproxy-stats", "prometheus+http://127.0.0.1:1/metrics", "--remediate", "--apply"),
         "needs HAProxy's stats socket (--haproxy-stats unix:PATH)"),
        (("--nginx-log", "access.log", "--lb-config", "nginx.conf", "--remediate"),
         "nginx has none"),
        (("--haproxy-stats", "unix:/x", "--remediate", "--once"), "--remediate needs the daemon"),
        (("--haproxy-stats", "unix:/x", "--probe"), "--probe needs --lb-config"),
        (("--haproxy-stats", "unix:/x", "--probe-path", "/healthz"), "need --probe"),
        (("--nginx-log", "access.log", "--lb-config", "nginx.conf", "--probe"),
         "no server of nginx.conf is on loopback"),
    ],
)  # fmt: skip
def test_bad_combinations_exit_2_with_one_line(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    (tmp_path / "nginx.conf").write_text(NGINX_CONF)
    proc = lbguard("watch", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("lbguard: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "s3cret" not in proc.stderr


def test_remediate_and_probe_settings_are_validated_and_honoured(tmp_path: Path) -> None:
    settings = tmp_path / "lbguard.toml"
    settings.write_text("[watch.remediate]\nenabled = true\napplyy = true\n")
    proc = lbguard("watch", "--haproxy-stats", "unix:/x", cwd=tmp_path)
    assert proc.returncode == 2 and "applyy" in proc.stderr
    settings.write_text("[watch.remediate]\nenabled = true\npanic-threshold = 1.5\n")
    proc = lbguard("watch", "--haproxy-stats", "unix:/x", cwd=tmp_path)
    assert proc.returncode == 2 and "panic-threshold" in proc.stderr
    # Enabled in the file, it is refused on a read-only source exactly like the flag.
    settings.write_text("[watch.remediate]\nenabled = true\n")
    proc = lbguard("watch", "--haproxy-stats", "http://127.0.0.1:1/stats", cwd=tmp_path)
    assert proc.returncode == 2 and "read-only statistics page" in proc.stderr
    settings.write_text(
        "[watch.remediate]\nenabled = true\n"
        '[[watch.sources]]\nname = "lb"\nhaproxy-stats = "unix:/a"\n'
        '[[watch.sources]]\nname = "lb"\nhaproxy-stats = "unix:/b"\n'
    )
    proc = lbguard("watch", cwd=tmp_path)
    assert (
        proc.returncode == 2 and "a distinct 'name'" in proc.stderr and "lb is used" in proc.stderr
    )
    settings.write_text("[watch.probe]\nenabled = true\n")
    proc = lbguard("watch", "--haproxy-stats", "unix:/x", cwd=tmp_path)
    assert proc.returncode == 2 and "--probe needs --lb-config" in proc.stderr


@pytest.mark.native
def test_dry_run_from_the_command_line_prints_the_command(haproxy_bin: str, tmp_path: Path) -> None:
    err_path = tmp_path / "watch.err"
    wanted = "would send: set server app/web-01 weight 4"
    with (
        running_haproxy(haproxy_bin, tmp_path, weight=8) as box,
        Load(box.port, max_seconds=40),
        watch_daemon(
            *("--haproxy-stats", f"unix:{box.socket}", "--lb-config", str(box.cfg)),
            *("--remediate", "--interval", "0.3", "--metrics", ""),
            *("--store", str(tmp_path / "store.db")),
            log=err_path,
        ) as proc,
    ):
        deadline = time.monotonic() + 25
        while wanted not in err_path.read_text() and time.monotonic() < deadline:
            if "remediation on" in err_path.read_text():
                box.stub("web-01").status = 500
            time.sleep(0.1)
        after = {s.name: s.weight for s in RuntimeClient(box.socket).pool_state("app").servers}
    text = err_path.read_text()
    assert "remediation on (dry-run, printing runtime API commands)" in text
    assert wanted in text, text
    assert proc.returncode == 0 and "Traceback" not in text
    assert after == {"web-01": 8, "web-02": 8, "web-03": 8}  # the dry-run changed nothing


@pytest.mark.native
def test_apply_on_a_socket_below_level_admin_exits_2(haproxy_bin: str, tmp_path: Path) -> None:
    sock = tmp_path / "user.sock"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        f"global\n    stats socket {sock} mode 600 level operator\n"
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n"
        "    timeout server 1s\nbackend app\n    server a 127.0.0.1:9 weight 10\n"
    )
    proc = _spawn([haproxy_bin, "-db", "-f", str(cfg)], tmp_path)
    try:
        deadline = time.monotonic() + 15
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        watch = ("watch", "--haproxy-stats", f"unix:{sock}", "--remediate")
        refused = lbguard(*watch, "--apply", cwd=tmp_path)
    finally:
        stop_group(proc, 5.0)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("lbguard: error: --apply needs HAProxy's stats socket")
    assert "level 'operator'" in refused.stderr and refused.stderr.count("\n") == 1
