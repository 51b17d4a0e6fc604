"""The models against request-by-request choices recorded from the real binaries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED
from lbguard.model import Dialect
from lbguard.parsers.haproxy import parse_haproxy
from lbguard.parsers.nginx import parse_nginx
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import Trace


def _vectors() -> list[dict[str, Any]]:
    path = SHARED / "algorithm-vectors.json"
    if not path.exists():
        return []
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return list(data["vectors"])


VECTORS = _vectors()


def _server_label(name: str) -> str:
    m = re.search(r":190(\d\d)$", name)
    return f"s{int(m.group(1))}" if m else name


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector(vector: dict[str, Any], tmp_path: Path) -> None:
    dialect = Dialect(vector["balancer"])
    cfg = tmp_path / ("haproxy.cfg" if dialect is Dialect.HAPROXY else "nginx.conf")
    cfg.write_text(vector["config"], encoding="utf-8")
    if dialect is Dialect.HAPROXY:
        config = parse_haproxy([str(cfg)]).config
    else:
        config, _ = parse_nginx([str(cfg)])
    pool = config.pool(vector["pool"])
    assert pool is not None
    result = simulate(pool, dialect, Trace.from_dicts(vector["requests"]))
    labels = []
    for index in result.picks:
        if index < 0:
            labels.append("none")
            continue
        server = pool.servers[int(index)]
        labels.append(_server_label(server.address_text or server.endpoint))
    assert labels == vector["expected_servers"]


def test_vectors_present() -> None:
    assert len(VECTORS) == 33
