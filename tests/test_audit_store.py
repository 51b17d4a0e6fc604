"""Baselines and the trail through the CLI, on SQLite and a real PostgreSQL: versioned,
anchored in the trail, tamper-evident, and never half-written."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from lbguard.audit.baselines import approve, baselines, list_baselines, load
from lbguard.audit.run import approved_state, read_states
from lbguard.cli import main
from lbguard.settings import Settings
from lbguard.store import StoreError, open_store

GOOD = """\
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend www
    bind 127.0.0.1:8080
    default_backend app
backend app
    balance roundrobin
    server web-01 10.0.1.11:8080 check
    server web-02 10.0.1.12:8080 check
userlist ops
    user admin insecure-password t0psecretpw
"""
SETTINGS = Settings.model_validate({})


def lbg(store: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"LBGUARD_STORE": store})


def _config(tmp_path: Path, text_: str = GOOD) -> str:
    path = tmp_path / "haproxy.cfg"
    path.write_text(text_, encoding="utf-8")
    return str(path)


def _one_line_error(result: Result, word: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbguard: error: "), result.stderr
    assert word in lines[0]
    assert "Traceback" not in result.output


def test_baselines_are_versioned_and_read_back(store_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    first = lbg(store_url, "baseline", "approve", "--no-native", "--note", "release 41", cfg)
    assert first.exit_code == 0, first.output
    assert "approved baseline #1" in first.output and "1 pools, 2 servers" in first.output
    _config(
        tmp_path,
        GOOD.replace("web-02 10.0.1.12:8080 check", "web-02 10.0.1.12:8080 check weight 3"),
    )
    assert (
        lbg(store_url, "baseline", "approve", "--no-native", "--note", "release 42", cfg).exit_code
        == 0
    )
    listed = lbg(store_url, "baseline", "list", "--format", "json")
    rows = json.loads(listed.output)
    assert [(r["id"], r["note"]) for r in rows] == [(1, "release 41"), (2, "release 42")]
    shown = json.loads(lbg(store_url, "baseline", "show", "2", "--format", "json").output)
    servers = shown["state"]["configs"][str(Path(cfg).resolve())]["pools"]["app"]["servers"]
    assert [s["weight"] for s in servers] == [1, 3]
    assert "t0psecretpw" not in json.dumps(shown)
    text_out = lbg(store_url, "baseline", "show", "1").output
    assert "web-02" in text_out and "predicted  50.0%" in text_out
    with open_store(store_url) as store:
        kinds = [(r.kind, r.body["id"]) for r in store.records()]
        assert kinds == [("baseline", 1), ("baseline", 2)]
        assert store.verify().ok
    assert lbg(store_url, "baseline", "show", "9").exit_code == 2


def test_edited_baseline_row_is_caught(store_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    assert lbg(store_url, "baseline", "approve", "--no-native", cfg).exit_code == 0
    with open_store(store_url) as store, store.engine.begin() as conn:
        conn.execute(
            text("UPDATE baselines SET state = replace(state, :a, :b)"),
            {"a": '"web-02"', "b": '"web-09"'},
        )
    _one_line_error(lbg(store_url, "baseline", "show", "1"), "was edited")
    _one_line_error(lbg(store_url, "audit", "--no-native", cfg), "was edited")


def _marks(store_url: str, n: int) -> None:
    for i in range(n):
        assert lbg(store_url, "trail", "mark", "deploy", "--note", f"release {i}").exit_code == 0


@pytest.mark.parametrize(
    ("sql", "first_bad"),
    [
        (('UPDATE trail SET body = \'{"note":"release 9"}\' WHERE seq = 3',), 3),
        (("DELETE FROM trail WHERE seq = 2",), 2),
        (
            (
                "UPDATE trail SET seq = 1000 WHERE seq = 2",
                "UPDATE trail SET seq = 2 WHERE seq = 3",
                "UPDATE trail SET seq = 3 WHERE seq = 1000",
            ),
            2,
        ),
    ],
    ids=["edit", "delete", "reorder"],
)
def test_trail_verify_names_the_first_bad_record(
    store_url: str, sql: tuple[str, ...], first_bad: int
) -> None:
    _marks(store_url, 5)
    ok = lbg(store_url, "trail", "verify")
    assert ok.exit_code == 0 and "trail intact: 5 records" in ok.output
    with open_store(store_url) as store, store.engine.begin() as conn:
        for statement in sql:
            conn.exec_driver_sql(statement)
    broken = lbg(store_url, "trail", "verify")
    assert broken.exit_code == 1
    assert f"BROKEN at record {first_bad}:" in broken.output
    doc = json.loads(lbg(store_url, "trail", "verify", "--format", "json").output)
    assert doc["ok"] is False and doc["first_bad_seq"] == first_bad


def test_concurrent_writers_keep_one_chain(store_url: str, tmp_path: Path) -> None:
    (st,) = read_states([_config(tmp_path)], SETTINGS, native=False)
    state = approved_state([st], SETTINGS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with open_store(store_url) as store:
                for i in range(5):
                    approve(store, state, f"writer {n} #{i}")
                    store.append("deploy", {"note": f"writer {n} deploy {i}"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with open_store(store_url) as store:
        verdict = store.verify()
        assert verdict.ok and verdict.checked == 40
        infos = list_baselines(store)
        assert len(infos) == 20
        for info in infos:  # every row is anchored in its own, distinct trail record
            assert load(store, info.id).info.trail_seq == info.trail_seq
        assert len({i.trail_seq for i in infos}) == 20


def test_corrupt_store_is_one_line_error(tmp_path: Path) -> None:
    db = tmp_path / "lbguard.db"
    db.write_bytes(b"this is not a database, just some bytes " * 200)
    store = f"sqlite:///{db}"
    cfg = _config(tmp_path)
    for args in (
        ("baseline", "approve", "--no-native", cfg),
        ("audit", "--no-native", cfg),
        ("trail", "verify"),
        ("timeline", "--since", "2h"),
    ):
        _one_line_error(lbg(store, *args), "not a database")


def _count(store_url: str) -> tuple[int, int]:
    with open_store(store_url) as store, store.reading() as conn:
        rows = conn.execute(select(func.count()).select_from(baselines)).scalar_one()
        return int(rows), store.verify().checked


def _one_baseline(tmp_path: Path) -> tuple[Path, str, dict[str, Any]]:
    """A SQLite store holding one approved baseline, and the state it approved."""
    db = tmp_path / "lbguard.db"
    url = f"sqlite:///{db}"
    (st,) = read_states([_config(tmp_path)], SETTINGS, native=False)
    state = approved_state([st], SETTINGS)
    with open_store(url) as store:
        approve(store, state, "first")
    return db, url, state


def test_locked_store_writes_no_partial_baseline(tmp_path: Path) -> None:
    db, url, state = _one_baseline(tmp_path)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with open_store(url, lock_timeout=0.2) as store:
            with pytest.raises(StoreError, match="locked") as err:
                approve(store, state, "blocked")
            assert "\n" not in err.value.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _count(url) == (1, 1)


def test_full_store_writes_no_partial_baseline(tmp_path: Path) -> None:
    db, url, state = _one_baseline(tmp_path)
    with sqlite3.connect(db) as raw:
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
    big = dict(state, padding="x" * 300_000)
    with open_store(url) as store:
        with store.engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
            conn.commit()
        with pytest.raises(StoreError, match="full"):
            approve(store, big, "too big")
    assert _count(url) == (1, 1)
    with open_store(url) as store:
        assert store.verify().ok


def test_hashes_survive_secret_looking_paths(tmp_path: Path) -> None:
    """The trail masks values under secret-looking keys; paths are never keys."""
    folder = tmp_path / "secrets-auth"
    folder.mkdir()
    cfg = _config(folder)
    store = f"sqlite:///{tmp_path / 'lbguard.db'}"
    assert lbg(store, "baseline", "approve", "--no-native", cfg).exit_code == 0
    assert lbg(store, "audit", "--no-native", "--record", cfg).exit_code == 0
    with open_store(store) as s:
        baseline, audit = (r.body for r in s.records())
    (entry,) = baseline["files"]
    assert entry["path"] == str(Path(cfg).resolve()) and len(entry["sha256"]) == 64
    (state,) = audit["states"]
    assert len(state["sha256"]) == 64


def test_turning_on_wal_waits_for_the_lock_it_needs() -> None:
    """SQLite refuses the switch to WAL at once while another connection holds the
    database (busy_timeout does not apply to it): the store retries, within its lock
    timeout, as it waits for any other lock, and gives up with the error after it."""
    import sqlite3

    from lbguard.store.engine import use_wal

    class Cursor:
        def __init__(self, conn: Conn) -> None:
            self.conn = conn

        def execute(self, sql: str) -> Cursor:
            if self.conn.locked_for > 0:
                self.conn.locked_for -= 1
                raise sqlite3.OperationalError("database is locked")
            self.conn.calls.append(sql)
            return self

        def fetchone(self) -> tuple[str]:
            return (self.conn.mode,)

        def close(self) -> None:
            pass

    class Conn:
        def __init__(self, locked_for: int, mode: str = "delete") -> None:
            self.locked_for, self.mode, self.calls = locked_for, mode, []

        def cursor(self) -> Cursor:
            return Cursor(self)

    slept: list[float] = []
    conn = Conn(locked_for=3)
    use_wal(conn, lock_timeout=10, sleep=slept.append)
    assert conn.calls == ["PRAGMA journal_mode", "PRAGMA journal_mode = WAL"]
    assert len(slept) == 3 and slept == sorted(slept)
    already = Conn(locked_for=0, mode="wal")
    use_wal(already, lock_timeout=10)
    assert already.calls == ["PRAGMA journal_mode"]  # on already: nothing to switch
    with pytest.raises(sqlite3.OperationalError):
        use_wal(Conn(locked_for=10**6), lock_timeout=0.05)


def test_writers_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """A fleet's first audits open one new store together (this failed one time in ten)."""
    for trial in range(15):
        url = f"sqlite:///{tmp_path / f'fleet{trial}.db'}"
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def writer(
            n: int,
            url: str = url,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                start.wait()
                with open_store(url) as store:
                    store.append("deploy", {"note": f"writer {n}"})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        with open_store(url) as store:
            assert store.verify().checked == 6
