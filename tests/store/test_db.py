"""Engine settings that the queue and durability rely on, checked on real connections."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config import Settings
from gateway.store.db import SQLITE_BEGIN, create_engine, database_url, normalise_url, session_scope, write_session
from gateway.store.types import UTCDateTime


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    assert database_url(Settings(data_dir=tmp_path)) == f"sqlite:///{tmp_path}/gateway.db"
    assert database_url(Settings(data_dir=tmp_path, database_url="postgresql://db/x")) == "postgresql://db/x"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgres_urls_use_psycopg3(scheme: str) -> None:
    assert normalise_url(f"{scheme}://u:p@h:5/d").drivername == "postgresql+psycopg"


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/sub/gateway.db", busy_timeout_ms=1234)
    try:
        with engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == 1234
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 2  # FULL
        assert stat.S_IMODE((tmp_path / "sub" / "gateway.db").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o700
    finally:
        engine.dispose()


def test_write_session_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gateway.db"
    engine = create_engine(url)
    impatient = create_engine(url, busy_timeout_ms=0)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with write_session(engine) as session:
            session.connection()  # BEGIN IMMEDIATE has run: no other writer may start
            with pytest.raises(sa.exc.OperationalError, match="locked"), impatient.begin() as other:
                other.exec_driver_sql("INSERT INTO t VALUES (1)")
        with impatient.connect().execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}) as free, free.begin():
            free.exec_driver_sql("INSERT INTO t VALUES (2)")
    finally:
        engine.dispose()
        impatient.dispose()


def test_session_scope_commits_or_rolls_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.connection().exec_driver_sql(
            "INSERT INTO participant (xoev_id, display_name, accepted_versions, route_kind, signature_policy,"
            " adapter_config, created_at, updated_at)"
            " VALUES ('psw:1', 'One', '[]', 'mailbox', 'require', '{}', '2026-01-01', '2026-01-01')"
        )

    def delete_then_fail() -> None:
        with session_scope(engine) as session:
            session.connection().exec_driver_sql("DELETE FROM participant")
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        delete_then_fail()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM participant").scalar() == 1


def test_timestamps_come_back_aware_in_utc_and_order_correctly(engine: Engine) -> None:
    table = sa.Table("ts_probe", sa.MetaData(), sa.Column("at", UTCDateTime, nullable=False))
    berlin = timezone(timedelta(hours=1))
    late_local = datetime(2026, 3, 1, 12, 30, tzinfo=berlin)  # 11:30 UTC
    early_utc = datetime(2026, 3, 1, 11, 45, tzinfo=UTC)  # later than late_local, though its clock says less
    with engine.begin() as connection:
        table.create(connection)
        connection.execute(table.insert(), [{"at": late_local}, {"at": early_utc}])
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.at).order_by(table.c.at)).scalars().all()
        assert rows == [late_local, early_utc]
        assert all(row.tzinfo is not None and row.utcoffset() == timedelta(0) for row in rows)
        cutoff = datetime(2026, 3, 1, 11, 40, tzinfo=UTC)
        assert connection.execute(sa.select(sa.func.count()).where(table.c.at <= cutoff)).scalar() == 1


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    table = sa.Table("ts_probe2", sa.MetaData(), sa.Column("at", UTCDateTime))
    with engine.begin() as connection:
        table.create(connection)
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            connection.execute(table.insert(), [{"at": datetime(2026, 1, 1)}])


def test_engine_is_usable_from_threads(engine: Engine) -> None:
    results: list[int] = []

    def count() -> None:
        with engine.connect() as connection:
            results.append(connection.exec_driver_sql("SELECT count(*) FROM message").scalar_one())

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0, 0, 0, 0]


def test_a_second_engine_keeps_the_first_engines_locks(tmp_path: Path) -> None:
    """A server and its in-process worker open two engines on one SQLite file; other processes read it.

    Opening and closing the file for the second engine used to drop the first engine's POSIX locks; another
    process's reader then believed it was the last connection, checkpointed and deleted the WAL, and what the
    first engine committed afterwards was invisible to every other process (or failed with "disk I/O error").
    """
    path = tmp_path / "gateway.db"
    first = create_engine(f"sqlite:///{path}")
    try:
        with first.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        with first.connect() as connection:  # a pooled connection stays open, as in a running server
            assert connection.exec_driver_sql("SELECT COUNT(*) FROM t").scalar() == 1
        create_engine(f"sqlite:///{path}").dispose()  # the worker's engine on the same file

        def seen_elsewhere() -> int:
            query = "print(c.execute('SELECT COUNT(*) FROM t').fetchone()[0]); c.close()"
            script = f"import sqlite3; c = sqlite3.connect({str(path)!r}); {query}"
            done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
            return int(done.stdout)

        assert seen_elsewhere() == 1
        for rows in range(2, 6):
            with first.begin() as connection:
                connection.exec_driver_sql(f"INSERT INTO t VALUES ({rows})")
            assert seen_elsewhere() == rows
            assert path.with_name("gateway.db-wal").exists()
    finally:
        first.dispose()
