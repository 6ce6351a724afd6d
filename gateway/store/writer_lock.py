"""SQLite writers queue on a lock of their own instead of spinning in SQLite's busy handler.

SQLite runs one writer at a time. A connection that finds the write lock taken sleeps in the busy
handler -- 1, 2, 5, 10 ... up to 100 ms between tries -- and wakes long after the writer has committed;
with two worker processes and an intake beside them most of a writer's time went into those sleeps.
So every write transaction on an SQLite file first takes a :class:`WriterLock` of that file: a thread
lock for the writers of this process, then an exclusive ``flock`` on ``<database>-writer`` for those of
other processes; whoever waits is woken when the holder commits or rolls back.

The lock is taken at a transaction's first writing statement (or its ``BEGIN IMMEDIATE``) and given up
when the connection commits, rolls back or closes -- exactly the span in which SQLite holds its own
write lock, so nothing waits longer than it would have waited for SQLite. The lock file is separate from
the database: ``flock`` on the database file itself would mix with SQLite's POSIX locks on it, and
opening and closing a descriptor of the database drops this process's POSIX locks on it (see
:func:`gateway.store.db._create_private_file`). ``flock`` locks go with the descriptor, so a killed
process leaves nothing behind.

The lock never makes anything fail that did not fail before: a wait longer than the busy timeout, or a
second connection of a thread that already holds the lock (which SQLite itself would refuse after its
busy timeout), goes on without it, and SQLite's own locking still decides.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

SUFFIX = "-writer"

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "CREATE", "DROP", "ALTER")


def is_write(statement: str) -> bool:
    """Whether ``statement`` makes SQLite take its write lock (a transaction's first write, or DDL)."""
    return statement.lstrip()[:16].upper().startswith(_WRITES)


class WriterLock:
    """The write lock of one SQLite file, shared by every connection of this process to it."""

    def __init__(self, database: Path) -> None:
        self.path = Path(f"{database}{SUFFIX}")
        self._threads = threading.Lock()
        self._owner: int | None = None
        self._fd: int | None = None
        self._pid = os.getpid()

    def acquire(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the lock; False when going on without it (see the module)."""
        if self._owner == threading.get_ident():
            return False  # another connection of this thread holds it: SQLite decides, as before
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=max(timeout, 0.0)):
            return False
        try:
            if not self._lock_file(deadline):
                self._threads.release()
                return False
        except BaseException:
            self._threads.release()
            raise
        self._owner = threading.get_ident()
        return True

    def release(self) -> None:
        self._owner = None
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child gets a descriptor of its own
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def _lock_file(self, deadline: float) -> bool:
        fd = self._descriptor()
        delay = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(delay)  # another process writes: it commits within milliseconds
                delay = min(delay * 2, 0.002)


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_GUARD = threading.Lock()


def writer_lock(database: Path) -> WriterLock:
    """The one :class:`WriterLock` of this process for ``database`` (every engine on the file shares it)."""
    key = os.path.realpath(database)
    with _LOCKS_GUARD:
        found = _LOCKS.get(key)
        if found is None or found._pid != os.getpid():
            found = _LOCKS[key] = WriterLock(Path(key))
        return found


class LockingConnection(sqlite3.Connection):
    """An SQLite connection that gives its :class:`WriterLock` back when its transaction ends."""

    writer: WriterLock | None = None
    holding: bool = False

    def take_writer_lock(self, timeout: float) -> None:
        if self.writer is not None and not self.holding:
            self.holding = self.writer.acquire(timeout)

    def drop_writer_lock(self) -> None:
        if self.holding and self.writer is not None:
            self.holding = False
            self.writer.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.drop_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.drop_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.drop_writer_lock()
