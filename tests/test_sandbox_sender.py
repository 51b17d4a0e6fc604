"""The sandbox's sender and stubs in their less common set-ups, through the real haproxy:
several sending processes, and the asyncio stubs used where nginx is missing."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import require_haproxy
from lbguard.model import Dialect
from lbguard.parsers.haproxy import parse_haproxy
from lbguard.sandbox import run, stubs
from lbguard.sandbox.run import loopback_trace, run_haproxy
from lbguard.sandbox.sender import _parse
from lbguard.simulate.engine import simulate
from lbguard.simulate.traffic import TrafficModel
from test_verify_haproxy import HEAD, assert_agrees


def pool_config(tmp_path: Path, balance: str) -> tuple[str, Any]:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HEAD
        + f"    balance {balance}\n"
        + "".join(f"    server s{i} 10.9.9.{i}:80 weight {i}\n" for i in range(1, 5))
    )
    return str(cfg), parse_haproxy([str(cfg)]).config


@pytest.mark.native
@pytest.mark.parametrize("balance", ["roundrobin", "uri"])
def test_forked_senders_attribute_every_request(
    balance: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_haproxy()
    plan_for = run.plan_for
    monkeypatch.setattr(
        run, "plan_for", lambda *a, **k: dataclasses.replace(plan_for(*a, **k), processes=3)
    )
    # The sender forks only where no thread runs beside it.
    assert threading.active_count() == 1
    path, config = pool_config(tmp_path, balance)
    pool = config.pool("app")
    trace = loopback_trace(TrafficModel(requests=3000, clients=400, uris=300, seed=6).generate())
    observed = run_haproxy(path, config, pool, trace, timeout=30)
    model = simulate(pool, Dialect.HAPROXY, trace)
    assert_agrees(
        observed, [pool.servers[i].name for i in model.picks], by_request=balance == "uri"
    )


@pytest.mark.native
def test_asyncio_stubs_answer_like_the_nginx_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_haproxy()
    monkeypatch.setattr(stubs, "nginx_can_serve", lambda stub: False)
    path, config = pool_config(tmp_path, "uri")
    pool = config.pool("app")
    trace = loopback_trace(TrafficModel(requests=800, uris=200, seed=7).generate())
    observed = run_haproxy(path, config, pool, trace, timeout=30)
    model = simulate(pool, Dialect.HAPROXY, trace)
    assert_agrees(observed, [pool.servers[i].name for i in model.picks], by_request=True)


def test_responses_are_split_exactly() -> None:
    """Pipelined answers arrive glued together or cut anywhere; each is found whole."""
    one = b"HTTP/1.1 200 OK\r\nx-lbguard-server: app/s1\r\ncontent-length: 6\r\n\r\napp/s1"
    chunked = (
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"4\r\nbusy\r\n0\r\n\r\n"
    )
    buf = bytearray(one + chunked + one[:30])
    end, who, close = _parse(buf, 0) or (0, None, True)
    assert (end, who, close) == (len(one), b"app/s1", False)
    end2, who2, close2 = _parse(buf, end) or (0, b"", False)
    assert (end2, who2, close2) == (len(one) + len(chunked), None, True)
    assert _parse(buf, end2) is None


def test_a_garbled_length_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError):
        _parse(bytearray(b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\nbody"), 0)
