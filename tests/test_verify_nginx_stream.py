"""nginx `stream {}` pools in the real nginx: TCP stubs, real distinct clients, and the
simulator agreeing with nginx: exactly for the hashes, which are deterministic, and
within a point for round robin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_nginx

pytestmark = pytest.mark.native

MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def _config(tmp: Path, balance: str) -> Path:
    if not MODULE.exists():
        # Installed by `make test` (tools/system-deps.sh) as libnginx-mod-stream.
        pytest.fail(f"nginx's stream module is missing at {MODULE}")
    cfg = tmp / "nginx.conf"
    cfg.write_text(
        f"load_module {MODULE};\n"
        "worker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        "stream {\n"
        "    upstream db {\n"
        f"        {balance}\n"
        "        server 10.0.0.1:5432;\n"
        "        server 10.0.0.2:5432;\n"
        "        server 10.0.0.3:5432 backup;\n"
        "    }\n"
        "    server {\n"
        "        listen 5432;\n"
        "        proxy_pass db;\n"
        "    }\n"
        "}\n"
    )
    return cfg


@pytest.mark.parametrize(
    "balance",
    ["", "hash $remote_addr consistent;", "hash $remote_addr;"],
    ids=["round-robin", "hash-consistent", "hash"],
)
def test_stream_pool_matches_the_model(balance: str, tmp_path: Path) -> None:
    require_nginx()
    cfg = _config(tmp_path, balance)
    if balance:
        # nginx refuses `backup` beside `hash`; the backup line goes.
        cfg.write_text(cfg.read_text().replace(" backup;", ";"))
    done = subprocess.run(
        [sys.executable, "-m", "lbguard", "verify", "--requests", "1500", "--format", "json",
         "--tolerance", "0.02", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [pool] = json.loads(done.stdout)["pools"]
    assert pool["requests_failed"] == 0 and pool["requests_sent"] == 1500
    servers = {s["name"]: s for s in pool["servers"]}
    assert sum(s["requests"] for s in servers.values()) == 1500
    for server in servers.values():
        if balance:
            assert server["observed_share"] == server["predicted_share"], server
        else:
            assert abs(server["observed_share"] - server["predicted_share"]) <= 0.01, server
    if not balance:
        # The backup takes nothing while both primaries are up.
        assert servers["10.0.0.3:5432"]["requests"] == 0
        assert servers["10.0.0.1:5432"]["observed_share"] == pytest.approx(0.5, abs=0.01)
    else:
        assert all(s["requests"] > 0 for s in servers.values())
