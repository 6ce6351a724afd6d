"""SQLite writers queue on the ``<database>-writer`` lock for exactly the span of their write transaction."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.db import create_engine, write_session
from gateway.store.writer_lock import SUFFIX, is_write


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    path = tmp_path / "gateway.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE item (id INTEGER PRIMARY KEY, who TEXT)")
    try:
        yield path, engine
    finally:
        engine.dispose()


def held_elsewhere(database: Path) -> bool:
    """Whether another open file description (as another process would have) can take the lock now."""
    fd = os.open(f"{database}{SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_the_lock_is_held_from_the_first_write_to_the_commit_or_rollback(database: tuple[Path, Engine]) -> None:
    path, engine = database
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT COUNT(*) FROM item").scalar()
        assert not held_elsewhere(path)  # reading takes nothing
        connection.exec_driver_sql("INSERT INTO item (who) VALUES ('a')")
        assert held_elsewhere(path)
        connection.commit()
        assert not held_elsewhere(path)
        connection.exec_driver_sql("UPDATE item SET who = 'b'")
        assert held_elsewhere(path)
        connection.rollback()
        assert not held_elsewhere(path)
    with write_session(engine) as session:  # BEGIN IMMEDIATE takes SQLite's write lock at once, and ours
        assert held_elsewhere(path)
        session.execute(sa.text("SELECT 1"))
    assert not held_elsewhere(path)
    assert path.with_name("gateway.db-writer").exists()


def test_a_writer_in_another_process_waits_for_the_lock(database: tuple[Path, Engine]) -> None:
    path, engine = database
    script = (
        "import sys\n"
        "from gateway.store.db import create_engine\n"
        "engine = create_engine('sqlite:///' + sys.argv[1])\n"
        "with engine.begin() as c:\n"
        "    c.exec_driver_sql(\"INSERT INTO item (who) VALUES ('other')\")\n"
        "print('done', flush=True)\n"
    )
    with engine.connect() as connection:
        connection.exec_driver_sql("INSERT INTO item (who) VALUES ('first')")
        other = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                other.wait(timeout=1.0)  # queued behind this transaction
        finally:
            connection.commit()
        assert other.communicate(timeout=60)[0].strip() == "done"
    with engine.connect() as connection:
        assert [r[0] for r in connection.exec_driver_sql("SELECT who FROM item ORDER BY id")] == ["first", "other"]


def test_writers_of_several_threads_and_engines_queue_and_all_commit(database: tuple[Path, Engine]) -> None:
    path, _engine = database
    engines = [create_engine(f"sqlite:///{path}") for _ in range(3)]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(30):
                with engines[n].begin() as connection:
                    connection.exec_driver_sql(f"INSERT INTO item (who) VALUES ('{n}-{i}')")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert not held_elsewhere(path)
    with _engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM item").scalar() == 90


def test_which_statements_write() -> None:
    assert is_write("  insert into x values (1)")
    assert is_write("UPDATE message SET state = ?")
    assert is_write("BEGIN IMMEDIATE")
    assert not is_write("SELECT 1")
    assert not is_write("BEGIN")
