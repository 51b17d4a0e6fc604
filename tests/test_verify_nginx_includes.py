"""verify on nginx configs spread over files: includes, conf.d upstreams, a prefix.

Each config runs in the real nginx from staged copies of all its files; the model
reads the same copies, so request-by-request agreement still holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_nginx
from lbguard.model import Dialect
from lbguard.sandbox.nginx_box import build_nginx_sandbox
from lbguard.sandbox.run import loopback_trace, run_nginx
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import TrafficModel

MAIN = """\
worker_processes 1;
events { worker_connections 256; }
http {
    include mime.types;
    include conf.d/*.conf;
    include sites/*.conf;
}
"""
UPSTREAMS = """\
upstream app {
    hash $request_uri consistent;
    server 10.9.9.1:80;
    server 10.9.9.2:80 weight=2;
    server 10.9.9.3:80;
}
"""
API = """\
upstream api {
    server 10.9.8.1:80 weight=3;
    server 10.9.8.2:80;
    server 10.9.8.3:80 backup;
}
"""
SITE = """\
server {
    listen 80;
    server_name shop.example;
    include snippets/app-locations.conf;
}
server {
    listen 80 default_server;
    server_name api.example;
    location / { proxy_pass http://api; }
}
"""
LOCATIONS = """\
location / {
    proxy_pass http://app;
    proxy_next_upstream off;
}
"""


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def multi_file(root: Path) -> Path:
    write_tree(
        root,
        {
            "nginx.conf": MAIN,
            "conf.d/10-app.conf": UPSTREAMS,
            "conf.d/20-api.conf": API,
            "sites/shop.conf": SITE,
            "snippets/app-locations.conf": LOCATIONS,
        },
    )
    return root / "nginx.conf"


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lbguard", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.native
@pytest.mark.parametrize("upstream", ["app", "api"])
def test_included_upstreams_match_the_model_request_by_request(
    upstream: str, tmp_path: Path
) -> None:
    require_nginx()
    main = multi_file(tmp_path)
    trace = loopback_trace(
        TrafficModel(requests=150, clients=50, client_subnets=30, uris=40, seed=3).generate()
    )
    observed, config = run_nginx(str(main), upstream, trace, timeout=30, ordered=True)
    pool = config.pool(upstream)
    assert pool is not None and len(pool.servers) == 3
    # The model read the staged copies: every server now points at a loopback stub.
    assert all(s.address == "127.0.0.1" for s in pool.servers)
    model = simulate(pool, Dialect.NGINX, trace)
    assert observed.failed == 0
    assert observed.sequence == [pool.servers[i].name for i in model.picks]
    assert any("mime.types" in note for note in observed.notes)


@pytest.mark.native
def test_verify_command_on_a_multi_file_config(tmp_path: Path) -> None:
    require_nginx()
    main = multi_file(tmp_path)
    proc = verify("--format", "json", "--requests", "3000", str(main))
    assert proc.returncode == 0, proc.stderr
    pools = {p["name"]: p for p in json.loads(proc.stdout)["pools"]}
    assert set(pools) == {"app", "api"}
    api = {s["name"]: s for s in pools["api"]["servers"]}
    # Weighted round robin, exactly: 3:1, and the backup untouched.
    assert api["10.9.8.1:80"]["requests"] == 2250 and api["10.9.8.2:80"]["requests"] == 750
    assert api["10.9.8.3:80"]["requests"] == 0
    for pool in pools.values():
        assert pool["requests_failed"] == 0 and pool["verdict"] == "pass"
        for s in pool["servers"]:
            assert s["observed_share"] == pytest.approx(s["predicted_share"], abs=1e-9)


@pytest.mark.native
def test_relative_includes_follow_the_prefix(tmp_path: Path) -> None:
    """nginx -p: the main file elsewhere, its includes relative to the conf directory."""
    require_nginx()
    conf = tmp_path / "conf"
    write_tree(conf, {"conf.d/10-app.conf": UPSTREAMS, "sites/shop.conf": SITE})
    write_tree(conf, {"snippets/app-locations.conf": LOCATIONS, "conf.d/20-api.conf": API})
    main = tmp_path / "elsewhere" / "nginx.conf"
    write_tree(tmp_path / "elsewhere", {"nginx.conf": MAIN})
    good = verify("--format", "json", "--requests", "500", "--prefix", str(conf), str(main))
    assert good.returncode == 0, good.stderr
    assert {p["name"] for p in json.loads(good.stdout)["pools"]} == {"app", "api"}
    # Without the prefix the includes match nothing here, so there is nothing to verify.
    bad = verify("--requests", "500", str(main))
    assert bad.returncode == 2
    assert bad.stderr.startswith("lbguard: error: no backend to verify")


@pytest.mark.native
def test_a_conf_d_file_runs_on_its_own(tmp_path: Path) -> None:
    """A conf.d file of upstreams runs inside a generated main file, with a server
    block for each upstream; a location snippet has nothing to verify and says why."""
    require_nginx()
    multi_file(tmp_path)
    proc = verify("--format", "json", "--requests", "800", str(tmp_path / "conf.d"))
    assert proc.returncode == 0, proc.stderr
    pools = {p["name"]: p for p in json.loads(proc.stdout)["pools"]}
    assert set(pools) == {"app", "api"}
    api = {s["name"]: s["requests"] for s in pools["api"]["servers"]}
    assert api == {"10.9.8.1:80": 600, "10.9.8.2:80": 200, "10.9.8.3:80": 0}
    assert any("conf.d file" in note for note in pools["app"]["notes"])
    snippet = verify(str(tmp_path / "snippets" / "app-locations.conf"))
    assert snippet.returncode == 2 and "fragment" in snippet.stderr
    assert snippet.stderr.count("\n") == 1 and "Traceback" not in snippet.stderr


@pytest.mark.native
def test_start_up_errors_point_at_the_users_included_file(tmp_path: Path) -> None:
    require_nginx()
    main = multi_file(tmp_path)
    # nginx refuses this at start-up (the parser leaves it to nginx).
    (tmp_path / "conf.d" / "20-api.conf").write_text(API.replace(" backup;", " weight=0;"))
    proc = verify("--requests", "100", str(main))
    assert proc.returncode == 2, proc.stdout
    line = proc.stderr.strip()
    assert line.startswith("lbguard: error: the balancer exited during start-up")
    assert f"{tmp_path / 'conf.d' / '20-api.conf'}:4" in line
    assert "lbguard-sandbox" not in line and "\n" not in line


def test_staging_keeps_every_line_and_nothing_leaves_loopback(tmp_path: Path) -> None:
    """No address outside 127.0.0.0/8 survives staging, and no line moves."""
    main = multi_file(tmp_path)
    (tmp_path / "sites" / "shop.conf").write_text(
        SITE.replace(
            "    include snippets/app-locations.conf;\n",
            "    include snippets/app-locations.conf;\n"
            "    location /ext {\n        proxy_pass http://192.0.2.10:8080/x;\n    }\n"
            "    resolver 192.0.2.53;\n    access_log /var/log/nginx/shop.log;\n"
            "    listen [::]:443 ssl\n        http2;\n",
        )
    )
    (tmp_path / "conf.d" / "20-api.conf").write_text(
        API.replace("10.9.8.2:80;", "backend.example.com:80 resolve;")
    )
    box = build_nginx_sandbox([str(main)], str(tmp_path / "box"))
    staged = {p: p.read_text() for p in (tmp_path / "box" / "tree").rglob("*.conf")}
    assert len(staged) == 5
    everything = "\n".join(staged.values())
    for outside in ("192.0.2", "10.9.", "backend.example.com", "/var/log", "[::]", "ssl"):
        assert outside not in everything, outside
    for path, text in staged.items():
        original = Path(str(path).replace(box.tree, ""))
        assert text.count("\n") == original.read_text().count("\n"), path
    # Each server block has a port of its own, and the extra listen is gone.
    assert len(box.ports) == 2 and len(set(box.ports.values())) == 2
    assert any("192.0.2.10:8080" in note for note in box.notes)


def test_installed_modules_are_kept_and_missing_ones_noted(tmp_path: Path) -> None:
    modules = tmp_path / "nginx-prefix" / "modules"
    modules.mkdir(parents=True)
    (modules / "ngx_stream_module.so").write_bytes(b"")
    main = multi_file(tmp_path)
    main.write_text(
        "load_module modules/ngx_stream_module.so;\n"
        "load_module /nowhere/ngx_mail_module.so;\n" + MAIN
    )
    box = build_nginx_sandbox(
        [str(main)], str(tmp_path / "box"), nginx_prefix=str(tmp_path / "nginx-prefix")
    )
    lines = Path(box.main).read_text().split("\n")
    assert lines[0] == f"load_module {modules / 'ngx_stream_module.so'};"
    assert lines[1].strip() == ""
    assert any("ngx_mail_module.so is not installed" in n for n in box.notes)
