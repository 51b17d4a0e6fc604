"""The store keeps what it is given, and says so when it cannot.

Every test runs on SQLite and on a real PostgreSQL (see conftest.store_url). Tampering
is done with plain SQL behind lbguard's back, the way an intruder or a careless
operator would.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from lbguard.redact import MASK
from lbguard.store import StoreError, open_store
from lbguard.store.canonical import redact


def _fill(url: str, n: int = 5) -> None:
    with open_store(url) as store:
        for i in range(n):
            store.append("check", {"run": i, "findings": i * 2}, subject=f"cfg{i % 2}")


def test_append_chains_and_reads_back(store_url: str) -> None:
    with open_store(store_url) as store:
        first = store.append("deploy", {"note": "release 42"}, subject="app")
        second = store.append("alert", {"state": "firing", "server": "web-01"}, subject="app")
        assert (first.seq, second.seq) == (1, 2)
        assert second.prev_hash == first.hash != second.hash
        got = list(store.records())
        assert [r.body for r in got] == [
            {"note": "release 42"},
            {"state": "firing", "server": "web-01"},
        ]
        assert [r.kind for r in store.records(kinds=["alert"])] == ["alert"]
        verdict = store.verify()
        assert verdict.ok and verdict.checked == 2 and verdict.head_hash == second.hash


def test_reopening_continues_the_same_chain(store_url: str) -> None:
    _fill(store_url, 3)
    with open_store(store_url) as store:
        rec = store.append("deploy", {"note": "after restart"})
        assert rec.seq == 4
        assert store.verify().ok


def test_time_filters_are_inclusive_and_exact(store_url: str) -> None:
    t0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    with open_store(store_url) as store:
        for minutes in (0, 10, 20, 30):
            store.append("health", {"m": minutes}, at=t0 + timedelta(minutes=minutes))
        window = store.records(since=t0 + timedelta(minutes=10), until=t0 + timedelta(minutes=20))
        assert [r.body["m"] for r in window] == [10, 20]


def test_secrets_are_masked_before_hashing(store_url: str) -> None:
    body = {
        "stats_auth": "admin:s3cret",
        "receiver": "https://bot:tok3n@hooks.example/x",
        "nested": {"password": "hunter2", "weight": 3},
        "api_key": "abc",
    }
    with open_store(store_url) as store:
        rec = store.append("audit", body)
        raw = next(r.body for r in store.records())
        assert store.verify().ok
    dumped = repr(raw) + repr(rec)
    for secret in ("s3cret", "tok3n", "hunter2", "'abc'"):
        assert secret not in dumped
    assert raw["nested"] == {"password": MASK, "weight": 3}
    # Masking is a pure function: the same input always gives the same record body.
    assert redact(body) == redact(body) == raw


def _tamper(url: str, sql: str) -> None:
    with open_store(url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql(sql)


@pytest.mark.parametrize(
    ("sql", "first_bad", "word"),
    [
        ('UPDATE trail SET body = \'{"run":2,"findings":0}\' WHERE seq = 3', 3, "edited"),
        ("DELETE FROM trail WHERE seq = 2", 2, "missing"),
        ("UPDATE trail SET seq = seq + 100 WHERE seq = 3", 3, "missing"),
        ("DELETE FROM trail WHERE seq = 5", 5, "cut off"),
        ("UPDATE trail SET prev_hash = hash WHERE seq = 4", 4, "does not follow"),
    ],
    ids=["edit", "delete", "reorder", "truncate", "relink"],
)
def test_verify_names_the_first_bad_record(
    store_url: str, sql: str, first_bad: int, word: str
) -> None:
    _fill(store_url, 5)
    _tamper(store_url, sql)
    with open_store(store_url) as store:
        verdict = store.verify()
    assert not verdict.ok
    assert verdict.first_bad_seq == first_bad
    assert word in verdict.reason


def test_swapping_two_records_is_seen(store_url: str) -> None:
    _fill(store_url, 4)
    with open_store(store_url) as store, store.engine.begin() as conn:
        rows = {r.seq: r for r in conn.execute(text("SELECT seq, body, hash FROM trail")).all()}
        for a, b in ((2, 3), (3, 2)):
            conn.execute(
                text("UPDATE trail SET body = :body WHERE seq = :seq"),
                {"body": rows[b].body, "seq": a},
            )
    with open_store(store_url) as store:
        verdict = store.verify()
    assert not verdict.ok and verdict.first_bad_seq == 2


def test_outbox_is_idempotent_and_retries(store_url: str) -> None:
    now = datetime.now(UTC)
    with open_store(store_url) as store:
        assert store.outbox.enqueue("am", "fp1/firing/t0", {"summary": "web-01 100%"})
        assert not store.outbox.enqueue("am", "fp1/firing/t0", {"summary": "web-01 100%"})
        assert store.outbox.enqueue("webhook", "fp1/firing/t0", {"summary": "x"})
        [item] = store.outbox.due("am", now + timedelta(seconds=1))
        store.outbox.failed(item.id, "connection refused", now + timedelta(seconds=30))
        assert store.outbox.due("am", now + timedelta(seconds=1)) == []
        [again] = store.outbox.due("am", now + timedelta(seconds=31))
        assert again.attempts == 1
        store.outbox.delivered(again.id)
        assert store.outbox.due("am", now + timedelta(hours=1)) == []
        assert store.outbox.pending_count("am") == 0
        assert store.outbox.pending_count() == 1
    # A restart re-deriving the same alert cannot queue it twice.
    with open_store(store_url) as store:
        assert not store.outbox.enqueue("am", "fp1/firing/t0", {"summary": "web-01 100%"})


def test_concurrent_writers_never_fork_the_chain(store_url: str) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with open_store(store_url) as store:
                for i in range(15):
                    store.append("check", {"writer": n, "i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    with open_store(store_url) as store:
        verdict = store.verify()
        assert verdict.ok and verdict.checked == 60


def test_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "lbguard.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="corrupt or not an lbguard store"):
        open_store(str(bad))


def test_locked_database_fails_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "lbguard.db"
    _fill(f"sqlite:///{path}", 2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute(
        "INSERT INTO outbox (receiver, key, payload, created_at, attempts, "
        "next_attempt_at) VALUES ('x', 'y', '{}', 'now', 0, 'now')"
    )
    try:
        with open_store(str(path), lock_timeout=0.2) as store:
            assert store.verify().checked == 2  # readers are not blocked
            with pytest.raises(StoreError, match="locked"):
                store.append("deploy", {"note": "blocked"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with open_store(str(path)) as store:
        assert store.verify().checked == 2


def test_full_database_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lbguard.db"
    _fill(f"sqlite:///{path}", 1)
    with sqlite3.connect(path) as raw:
        pages = raw.execute("PRAGMA page_count").fetchone()[0]
    with open_store(str(path)) as store:
        with store.engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
            conn.commit()
        big = {"blob": "x" * 200_000}
        with pytest.raises(StoreError, match="full"):
            store.append("audit", big)
    with open_store(str(path)) as store:
        verdict = store.verify()
        assert verdict.ok and verdict.checked == 1


def test_bad_url_and_folder_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not supported"):
        open_store("mysql+nodriver://u:pw@127.0.0.1/x")
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        open_store(str(tmp_path / "dir.db"))


def test_schema_heads_match_the_migration_scripts() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from lbguard.store.engine import MIGRATIONS, SCHEMA_HEADS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert set(ScriptDirectory.from_config(cfg).get_heads()) == SCHEMA_HEADS
