"""The forked passes of `lbguard check` give exactly what the sequential code gives."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from conftest import CORPUS, require_shared
from lbguard import check, forked
from lbguard.check import Unit, parse_unit, plan_units, run_rules
from lbguard.forked import Background, can_fork
from lbguard.model import Dialect
from lbguard.parsers import haproxy
from lbguard.settings import Settings

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


_REAL_IDLE_CORE = forked.idle_core


@pytest.fixture(autouse=True)
def _as_if_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The forked paths are tested whatever else runs on the machine."""
    monkeypatch.setattr(forked, "idle_core", lambda: True)


def test_a_busy_machine_keeps_the_work_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "idle_core", _REAL_IDLE_CORE)
    monkeypatch.setattr(forked, "usable_cores", lambda: 2)
    monkeypatch.setattr(forked, "others_running", lambda: 1)
    assert not can_fork()
    assert Background(os.getpid).result() == os.getpid()
    monkeypatch.setattr(forked, "others_running", lambda: 0)
    assert can_fork()


def test_one_core_never_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "idle_core", _REAL_IDLE_CORE)
    monkeypatch.setattr(forked, "usable_cores", lambda: 1)
    monkeypatch.setattr(forked, "others_running", lambda: 0)
    assert not can_fork()


def test_the_load_is_read_now_not_averaged(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    # A minute of heavy load behind, nothing but this process running now.
    loadavg.write_text("3.90 2.10 1.05 1/412 31337\n")
    assert forked.others_running(str(loadavg)) == 0
    loadavg.write_text("0.00 0.00 0.00 3/412 31337\n")
    assert forked.others_running(str(loadavg)) == 2
    loadavg.write_text("garbled\n")
    assert forked.others_running(str(loadavg)) is None
    assert forked.others_running(str(tmp_path / "absent")) is None


def test_without_proc_the_load_average_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forked, "idle_core", _REAL_IDLE_CORE)
    monkeypatch.setattr(forked, "usable_cores", lambda: 2)
    monkeypatch.setattr(forked, "others_running", lambda: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 0.0, 0.0))
    assert not can_fork()
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.0, 0.0))
    assert can_fork()


def test_work_runs_in_a_child_and_its_result_comes_back() -> None:
    parent = os.getpid()
    job = Background(lambda: (os.getpid(), list(range(100_000))))
    pid, numbers = job.result()
    assert pid != parent
    assert numbers == list(range(100_000))


def test_a_failing_child_leaves_the_work_to_the_parent() -> None:
    parent = os.getpid()

    def work() -> int:
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return 42

    assert Background(work).result() == 42


def test_an_unpicklable_result_is_computed_again_here() -> None:
    parent = os.getpid()
    job = Background(lambda: lambda: os.getpid())
    assert job.result()() == parent


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, args=(30,))
    thread.start()
    try:
        assert not can_fork()
        assert Background(os.getpid).result() == os.getpid()
    finally:
        stop.set()
        thread.join()
    assert can_fork()


def test_fork_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBGUARD_NO_FORK", "1")
    assert Background(os.getpid).result() == os.getpid()


def _generated(tmp_path: Path) -> Path:
    """A config with errors in validation and findings from every kind of rule."""
    lines = ["defaults", "    mode http", "    timeout connect 5s", "", "frontend www"]
    lines += ["    bind :80"] + [f"    use_backend be{b} if {{ path_beg /{b} }}" for b in range(40)]
    for b in range(40):
        algo = ("roundrobin", "source", "uri", "hdr(X-Tenant)", "first")[b % 5]
        lines += [f"backend be{b}", f"    balance {algo}", "    default-server check"]
        for s in range(6):
            weight = 90 if s == 0 and b % 3 == 0 else 1 + s % 3
            extra = " backup" if b % 7 == 0 and s else ""
            extra += " wieght 3" if b % 11 == 0 and s == 2 else ""
            addr = f"10.0.{b}.{s + 1}:80" if (b, s) != (5, 3) else ":80"
            lines.append(f"    server s{s} {addr} weight {weight}{extra}")
        if b % 13 == 0:
            lines.append("    timeout queue 5x")
    path = tmp_path / "gen.cfg"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _both_ways(paths: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    unit = Unit(Dialect.HAPROXY, paths)
    with monkeypatch.context() as m:
        m.setenv("LBGUARD_NO_FORK", "1")
        alone = parse_unit(unit)
        alone_rules = run_rules(alone.config, Settings())
    monkeypatch.setattr(haproxy, "PARALLEL_VALIDATION_STATEMENTS", 0)
    monkeypatch.setattr(check, "PARALLEL_RULES_BYTES", 0)
    unit = plan_units(paths, Dialect.HAPROXY)[0]  # with its texts, as check has them
    simulating = check.start_simulating_rules(unit, Settings())
    assert simulating is not None and simulating._pid, "the helper must really run"
    forked = parse_unit(unit)
    assert forked.findings == alone.findings
    assert forked.config == alone.config
    assert run_rules(forked.config, Settings(), simulating=simulating) == alone_rules


def test_generated_config_same_findings_forked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _generated(tmp_path)
    _both_ways([str(path)], monkeypatch)
    parsed = parse_unit(Unit(Dialect.HAPROXY, [str(path)]))
    assert {f.location.line for f in parsed.findings if f.code == "PARSE"}, "needs errors"
    codes = {f.code for f in run_rules(parsed.config, Settings())}
    assert {"LBG103", "LBG105", "LBG111", "LBG112"} <= codes, "needs findings from both sides"


def test_corpus_same_findings_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    require_shared()
    files = sorted((CORPUS / "haproxy").iterdir())
    assert files
    for path in files:
        _both_ways([str(path)], monkeypatch)


def _nginx_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lbguard.parsers import nginx

    unit = Unit(Dialect.NGINX, [str(path)])
    with monkeypatch.context() as m:
        m.setenv("LBGUARD_NO_FORK", "1")
        alone = parse_unit(unit)
    with monkeypatch.context() as m:
        m.setattr(nginx, "PARALLEL_CHECK_LINES", 0)
        forked = parse_unit(unit)
    assert forked.findings == alone.findings
    assert forked.config == alone.config
    assert forked.sources == alone.sources


def test_nginx_generated_config_same_findings_forked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = ["events {}", "http {"]
    for u in range(30):
        method = ("", "ip_hash;", "hash $request_uri consistent;", "least_conn;")[u % 4]
        lines += [f"  upstream app{u} {{", f"    {method}"]
        for s in range(5):
            extra = " backup" if u % 5 == 0 and s == 4 else ""
            extra += " weight=0" if u % 7 == 0 and s == 1 else " weight=2"
            lines.append(f"    server 10.0.{u}.{s + 1}:8080 max_fails=3{extra};")
        lines.append("  }")
    lines += ["  server {", "    listen 8080;"]
    lines += [f"    location /{u}/ {{ proxy_pass http://app{u}; }}" for u in range(30)]
    lines += ["    location /x/ { proxy_pass http://10.0.1.1:8080; }", "    bogus_directive on;"]
    lines += ["  }", "}"]
    path = tmp_path / "nginx.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _nginx_both_ways(path, monkeypatch)
    assert any(f.code == "PARSE" for f in parse_unit(Unit(Dialect.NGINX, [str(path)])).findings)


def test_nginx_corpus_same_findings_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    require_shared()
    files = sorted((CORPUS / "nginx").iterdir())
    assert files
    for path in files:
        _nginx_both_ways(path, monkeypatch)


def test_a_failed_child_leaves_the_cheaper_work_to_the_parent() -> None:
    parent = os.getpid()

    def work() -> str:
        if os.getpid() != parent:
            os._exit(3)
        return "redone"

    assert Background(work).result(lambda: "instead") == "instead"


def test_a_child_never_forks_again() -> None:
    job = Background(lambda: (can_fork(), Background(os.getpid).result() == os.getpid()))
    assert job.result(lambda: (False, True)) == (False, True)
    assert can_fork()


def test_a_cancelled_child_is_stopped_and_reaped() -> None:
    import time

    job = Background(lambda: time.sleep(30))
    pid = job._pid
    assert pid
    start = time.monotonic()
    job.cancel()
    assert time.monotonic() - start < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    job.cancel()  # a second time: nothing left to do


def test_a_config_that_cannot_be_parsed_stops_the_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse that fails in this process (an nginx include unreadable) strands no helper."""
    from lbguard.check import check_paths
    from lbguard.errors import ConfigReadError
    from lbguard.rule_settings import DEFAULTS

    monkeypatch.setattr(check, "PARALLEL_RULES_BYTES", 0)
    started: list[Background[dict[str, list[object]]] | None] = []
    real = check.start_simulating_rules

    def spy(*args: object, **kwargs: object) -> object:
        job = real(*args, **kwargs)  # type: ignore[arg-type]
        started.append(job)  # type: ignore[arg-type]
        return job

    def unreadable(*args: object, **kwargs: object) -> object:
        raise ConfigReadError("conf.d/x.conf: permission denied")

    monkeypatch.setattr(check, "start_simulating_rules", spy)
    monkeypatch.setattr(check, "parse_unit", unreadable)
    cfg = _generated(tmp_path)
    with pytest.raises(ConfigReadError):
        check_paths([str(cfg)], DEFAULTS, native=False)
    assert len(started) == 1 and started[0] is not None
    assert started[0]._pid == 0  # stopped and reaped
