"""The adapter's memory of what it has put into its DMS and taken out of it: exactly-once in effect.

The pipeline delivers at least once, so the same message can arrive again after a crash or a lost answer.
The ledger remembers, per message (ProzessID, type, LfdNr), how far an import got, and per Schriftgutobjekt
(its ID / xdomeaUUID) where it went in the DMS; exported files are remembered by content hash so a package
dropped twice into the outbox leaves the DMS once.

Why a SQLite file in the adapter's own state directory and not a table in the gateway's database: the
ledger describes the DMS, not the gateway (re-pointing a participant at a new DMS starts a fresh ledger by
starting a fresh state directory); the adapter layer stays free of the gateway's schema and migrations, so
a third-party adapter gets the same ledger for free; and the gateway's database gives no atomicity with the
DMS anyway. SQLite in WAL mode with ``synchronous=FULL`` makes every committed step survive a power cut.

An import goes ``pending`` (about to write) -> ``staged`` (written under a temporary name, complete) ->
``done`` (made visible; object rows written in the same transaction). After a crash, ``pending`` means
"start again" and ``staged`` means "finish the rename if the temporary file is still there, else it
already happened", so a redelivery never writes a second copy.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from adapters.base import MessageKey, ObjectResult, ObjectStatus
from gateway.xoev.model import ObjectKind

SCHEMA = """
CREATE TABLE IF NOT EXISTS imports (
    process_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'staged', 'done')),
    target TEXT NOT NULL,
    temp TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (process_id, message_type, sequence)
);
CREATE TABLE IF NOT EXISTS imported_objects (
    xdomea_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent TEXT,
    process_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    dms_id TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exports (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reference TEXT,
    exported_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class ImportRecord:
    key: MessageKey
    state: str
    target: str
    temp: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ImportedObject:
    id: str
    kind: ObjectKind
    parent: str | None
    key: MessageKey
    dms_id: str


@dataclass(frozen=True, slots=True)
class ExportRecord:
    sha256: str
    name: str
    reference: str | None
    exported_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ledger:
    """One SQLite file (or ``None`` for an in-memory ledger in tests); safe to share between threads."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path) if path is not None else ":memory:", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- imports -------------------------------------------------------------------------------------

    def import_record(self, key: MessageKey) -> ImportRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state, target, temp, sha256 FROM imports WHERE process_id=? AND message_type=? AND sequence=?",
                (key.process_id, key.message_type, key.sequence),
            ).fetchone()
        return None if row is None else ImportRecord(key, row[0], row[1], row[2], row[3])

    def begin(self, key: MessageKey, *, target: str, temp: str, sha256: str) -> None:
        """About to write ``temp``: whatever an earlier try left is to be thrown away."""
        self._set(key, "pending", target=target, temp=temp, sha256=sha256)

    def staged(self, key: MessageKey) -> None:
        """The temporary copy is complete and durable; only the rename remains."""
        with self._lock:
            self._db.execute(
                "UPDATE imports SET state='staged', updated_at=? WHERE process_id=? AND message_type=? AND sequence=?",
                (_now(), key.process_id, key.message_type, key.sequence),
            )

    def complete(self, key: MessageKey, objects: Sequence[ObjectResult]) -> None:
        """The message is visible in the DMS: mark it done and remember every object, in one transaction."""
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE imports SET state='done', updated_at=? "
                    "WHERE process_id=? AND message_type=? AND sequence=?",
                    (now, key.process_id, key.message_type, key.sequence),
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO imported_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (o.id, str(o.kind), o.parent, key.process_id, key.message_type, key.sequence, o.dms_id, now)
                        for o in objects
                        if o.status in (ObjectStatus.IMPORTED, ObjectStatus.FOUND) and o.dms_id is not None
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def forget_import(self, key: MessageKey) -> None:
        """An attempt that wrote nothing visible is abandoned (its temporary file was removed)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM imports WHERE process_id=? AND message_type=? AND sequence=? AND state != 'done'",
                (key.process_id, key.message_type, key.sequence),
            )

    def imported_objects(self, ids: Iterable[str]) -> dict[str, ImportedObject]:
        wanted = list(ids)
        out: dict[str, ImportedObject] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = (
                    "SELECT xdomea_id, kind, parent, process_id, message_type, sequence, dms_id "
                    "FROM imported_objects WHERE xdomea_id IN (" + marks + ")"
                )
                for row in self._db.execute(sql, chunk):
                    out[row[0]] = ImportedObject(row[0], ObjectKind(row[1]), row[2], MessageKey(*row[3:6]), row[6])
        return out

    def objects_of(self, key: MessageKey) -> list[ImportedObject]:
        with self._lock:
            rows = self._db.execute(
                "SELECT xdomea_id, kind, parent, dms_id FROM imported_objects "
                "WHERE process_id=? AND message_type=? AND sequence=? ORDER BY rowid",
                (key.process_id, key.message_type, key.sequence),
            ).fetchall()
        return [ImportedObject(r[0], ObjectKind(r[1]), r[2], key, r[3]) for r in rows]

    def _set(self, key: MessageKey, state: str, *, target: str, temp: str, sha256: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (process_id, message_type, sequence) DO UPDATE SET "
                "state=excluded.state, target=excluded.target, temp=excluded.temp, sha256=excluded.sha256, "
                "updated_at=excluded.updated_at",
                (key.process_id, key.message_type, key.sequence, state, target, temp, sha256, _now()),
            )

    # -- exports -------------------------------------------------------------------------------------

    def exported(self, sha256: str) -> ExportRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sha256, name, reference, exported_at FROM exports WHERE sha256=?", (sha256,)
            ).fetchone()
        return None if row is None else ExportRecord(*row)

    def record_export(self, sha256: str, name: str, reference: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO exports VALUES (?, ?, ?, ?)", (sha256, name, reference, _now()))
