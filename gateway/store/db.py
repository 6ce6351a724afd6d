"""Database engines and sessions: SQLite (one file, WAL) embedded by default, PostgreSQL by URL.

SQLite is tuned for several processes sharing one file: WAL lets readers run beside the writer,
``busy_timeout`` makes a writer wait for the lock instead of failing, ``synchronous=FULL`` makes a commit
durable before it returns (a receipt must never be sent for a row a power cut can undo), and foreign
keys are switched on (SQLite leaves them off). Writers of one file, in this process and in others,
queue on a lock of their own rather than in SQLite's busy handler (:mod:`gateway.store.writer_lock`).
The driver keeps its default transaction handling, which starts a transaction at the first write; a
reader therefore never holds a stale snapshot that would make its later write fail. Code that must read
and write under the write lock asks for ``BEGIN IMMEDIATE`` through :data:`SQLITE_BEGIN` (see :func:`write_session`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from gateway.config import Settings
from gateway.store.writer_lock import LockingConnection, WriterLock, is_write, writer_lock

SQLITE_BEGIN = "xgw_sqlite_begin"
"""Connection execution option: ``"IMMEDIATE"`` starts SQLite transactions with ``BEGIN IMMEDIATE``."""

DEFAULT_BUSY_TIMEOUT_MS = 30_000
DB_FILE_NAME = "gateway.db"


def database_url(settings: Settings) -> str:
    """The configured URL, or an SQLite file in the data directory."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{(settings.data_dir / DB_FILE_NAME).resolve()}"


def normalise_url(url: str | sa.URL) -> sa.URL:
    """Accept the usual spellings of a PostgreSQL URL and route them to psycopg 3 (the installed driver)."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str | sa.URL, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, echo: bool = False) -> Engine:
    """An engine for ``url`` with the settings this gateway relies on (see the module docstring)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms=busy_timeout_ms, echo=echo)
    return sa.create_engine(parsed, pool_pre_ping=True, echo=echo)


def _sqlite_engine(url: sa.URL, *, busy_timeout_ms: int, echo: bool) -> Engine:
    database = url.database
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    lock: WriterLock | None = None
    if not in_memory and database:
        _create_private_file(Path(database))
        lock = writer_lock(Path(database))
    engine = sa.create_engine(url, echo=echo, connect_args={"factory": LockingConnection})
    timeout = busy_timeout_ms / 1000

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if not in_memory:
                _enable_wal(cursor, busy_timeout_ms)
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
        if isinstance(dbapi_connection, LockingConnection):
            dbapi_connection.writer = lock

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before_write(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        dbapi_connection: Any = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, LockingConnection) and not dbapi_connection.holding and is_write(statement):
            dbapi_connection.take_writer_lock(timeout)

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after_write(connection: Connection, *_args: Any) -> None:
        dbapi_connection: Any = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, LockingConnection) and not dbapi_connection.in_transaction:
            dbapi_connection.drop_writer_lock()  # the statement ran outside a transaction (DDL, autocommit)

    @sa.event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        connection = context.connection
        dbapi_connection: Any = connection.connection.dbapi_connection if connection is not None else None
        if isinstance(dbapi_connection, LockingConnection) and not dbapi_connection.in_transaction:
            dbapi_connection.drop_writer_lock()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(SQLITE_BEGIN) == "IMMEDIATE":
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _enable_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch to WAL unless the file is in WAL already (the mode is persistent).

    Converting needs the database to itself, and SQLite answers "database is locked" at once instead of
    calling the busy handler when another connection is open at that moment (seen when several processes
    upgrade a brand-new database together), so the conversion is retried within the busy timeout.
    """
    row = cursor.execute("PRAGMA journal_mode").fetchone()
    if row and str(row[0]).lower() == "wal":
        return
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _create_private_file(path: Path) -> None:
    """Create the database file owner-only before SQLite does (it copies the mode to -wal and -shm).

    An existing file is never opened: closing any descriptor of a file drops every POSIX lock this process
    holds on it, the locks of its open SQLite connections included (https://sqlite.org/howtocorrupt.html,
    2.2). A second engine on a database this process already uses (a server and its in-process worker) then
    left the first engine's connections unlocked; another process closing its last connection could check-
    point and delete the WAL under them, and what they committed afterwards went into a deleted file:
    invisible to every other process and lost at the next restart (seen as a message a gateway had answered
    but that its own database never showed).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def make_session(engine: Engine) -> Session:
    """A session whose objects stay readable after commit (workers keep using a message they committed)."""
    return Session(engine, expire_on_commit=False)


@contextmanager
def held_session(engine: Engine) -> Iterator[Session]:
    """A session that keeps one pooled connection for its whole life, not one per transaction.

    A session gives its connection back to the pool at every commit and rollback, and PostgreSQL's
    ``pool_pre_ping`` costs a round trip at every checkout: a worker's batch, which ends a transaction
    before each slow step, paid two or three pings per message. For a loop of short transactions
    (a worker's batch) only; a request that may wait long between transactions should not hold a
    connection.
    """
    with engine.connect() as connection, Session(bind=connection, expire_on_commit=False) as session:
        yield session


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends normally, rolled back when it raises."""
    with make_session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """Like :func:`session_scope`, but on SQLite the transaction takes the write lock at its first statement.

    Use it when a transaction reads and then writes based on what it read; on PostgreSQL it is an
    ordinary session (use row locks there).
    """
    with make_session(engine) as session:
        session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
