"""Where the store lives and how to talk to it safely.

SQLite is the default: one file, no server, and what a single watch or audit daemon
needs. Teams point several hosts at PostgreSQL with a `postgresql+psycopg://` URL.
Writers serialise on a lock (SQLite's `BEGIN IMMEDIATE`, a PostgreSQL advisory lock)
so two processes can never both extend the hash chain from the same record.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
)

from lbguard.errors import LbguardError
from lbguard.store.canonical import utcnow
from lbguard.store.outbox import Outbox
from lbguard.store.trail import (
    TrailRecord,
    TrailVerdict,
    append_record,
    select_records,
    verify_chain,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# An arbitrary, fixed key: every lbguard writer on a PostgreSQL store takes this lock.
_PG_WRITER_LOCK = 0x6C6267
_BUSY_TIMEOUT_S = 10.0


class StoreError(LbguardError):
    """The store cannot be opened or written: locked, corrupt, full, unreachable."""


def default_store_url(settings_value: str | None = None) -> str:
    env = os.environ.get("LBGUARD_STORE")
    if env:
        return env
    if settings_value:
        return settings_value
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return f"sqlite:///{Path(state) / 'lbguard' / 'lbguard.db'}"


def _as_url(value: str) -> str:
    """Accept a bare path for SQLite as well as a URL."""
    return value if "://" in value else f"sqlite:///{Path(value).expanduser().resolve()}"


def _reason(exc: DatabaseError) -> str:
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()
    text_ = first[0] if first else type(orig).__name__
    if "is locked" in text_ or "lock timeout" in text_:
        return f"{text_} (another lbguard or a tool holds it; nothing was written)"
    if "disk is full" in text_ or "No space left" in text_:
        return f"{text_} (nothing was written)"
    if "not a database" in text_ or "malformed" in text_:
        return f"{text_} (the store file is corrupt or not an lbguard store)"
    return text_


class Store:
    """One handle on the trail and the outbox. Use as a context manager or call close()."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.display_url = engine.url.render_as_string(hide_password=True)
        self.outbox = Outbox(self.writing, self.reading)

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            raise
        except (OperationalError, DatabaseError) as exc:
            raise StoreError(f"store {self.display_url}: {_reason(exc)}") from None

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction holding the writer lock; all or nothing."""
        with self._guard(), self.engine.connect() as conn:
            conn = conn.execution_options(lbguard_write=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITER_LOCK})
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    # -- trail -------------------------------------------------------------------------
    def append(
        self,
        kind: str,
        body: Mapping[str, Any],
        *,
        subject: str | None = None,
        at: datetime | None = None,
    ) -> TrailRecord:
        with self.writing() as conn:
            return append_record(conn, kind, body, subject, at or utcnow())

    def records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: list[str] | tuple[str, ...] | None = None,
        subject: str | None = None,
    ) -> Iterator[TrailRecord]:
        with self.reading() as conn:
            yield from select_records(conn, since=since, until=until, kinds=kinds, subject=subject)

    def verify(self) -> TrailVerdict:
        with self.reading() as conn:
            return verify_chain(conn)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def use_wal(
    dbapi_conn: Any, lock_timeout: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Put the database in WAL mode, waiting up to `lock_timeout` for the lock it needs.

    The switch needs the database to itself, and SQLite answers "database is locked"
    at once rather than wait for it (busy_timeout does not apply): several writers
    opening a new store at the same moment, a fleet's first audits, failed at random.
    Once one has switched, the mode is persistent and the others find it on.
    """
    deadline = time.monotonic() + lock_timeout
    delay = 0.005
    while True:
        cur = dbapi_conn.cursor()
        try:
            mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        finally:
            cur.close()
        sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite_events(engine: Engine, lock_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()
        # WAL lets `timeline` and `trail verify` read while a daemon writes.
        use_wal(dbapi_conn, lock_timeout)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lbguard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# The newest migration revisions. Checked against the migration scripts by a test, so
# an open of an up-to-date store needs no Alembic import (about 0.15 s per command).
SCHEMA_HEADS = frozenset({"0002_baselines"})


def _current_heads(store: Store) -> set[str] | None:
    with store.reading() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def _migrate(store: Store) -> None:
    if _current_heads(store) == set(SCHEMA_HEADS):
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    with store.reading() as conn:
        if set(MigrationContext.configure(conn).get_current_heads()) == heads:
            return
    with store.writing() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def open_store(
    url: str | None = None,
    *,
    settings_value: str | None = None,
    lock_timeout: float = _BUSY_TIMEOUT_S,
) -> Store:
    """Open (creating and upgrading as needed) the store at `url` or the default place."""
    raw = _as_url(url) if url else _as_url(default_store_url(settings_value))
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StoreError(f"store URL is not valid: {raw.split('@')[-1]}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(f"store: {backend} is not supported (use SQLite or PostgreSQL)")
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store folder {folder}: {exc.strerror}") from None
        if Path(parsed.database).is_dir():
            raise StoreError(f"store {parsed.database}: is a directory")
    try:
        engine = create_engine(parsed, future=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"store {parsed.render_as_string(hide_password=True)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine, lock_timeout)
    elif engine.dialect.name != "postgresql":
        engine.dispose()
        raise StoreError(
            f"store: {engine.dialect.name} is not supported (use SQLite or PostgreSQL)"
        )
    store = Store(engine)
    try:
        _migrate(store)
    except BaseException:
        store.close()
        raise
    return store
