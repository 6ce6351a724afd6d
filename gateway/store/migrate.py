"""Schema migrations: upgrade the database on start, or refuse to run against a schema we do not know.

Alembic is configured in code (no ``alembic.ini``): the scripts live in ``gateway/store/migrations``
and are always run over a connection this module opens. Several gateway processes may start at once;
the upgrade runs under a lock (PostgreSQL advisory lock, SQLite ``BEGIN IMMEDIATE``) and re-reads the
revision once it holds it, so exactly one of them migrates and the others find the schema current.

To add a revision after changing :mod:`gateway.store.models`::

    .venv/bin/python -m gateway.store.migrate revision "what changed"

which autogenerates a script against a scratch SQLite database; review it before committing.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from gateway.store.db import SQLITE_BEGIN, create_engine, is_postgresql

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
_ADVISORY_LOCK_ID = 0x7867772D6D6967  # "xgw-mig": serialises concurrent upgrades on PostgreSQL


class DatabaseVersionError(RuntimeError):
    """The database's schema cannot be used by this version of the gateway; the message says what to do."""


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    current: str | None  # None: an empty database
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def target_metadata() -> sa.MetaData:
    """The metadata the migrations must produce (all SQLModel tables of the gateway)."""
    from sqlmodel import SQLModel

    from gateway.store import models  # noqa: F401  (registers the tables)

    return SQLModel.metadata


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_table", VERSION_TABLE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts in {MIGRATIONS_DIR}")
    return head


def _describe(connection: Connection) -> str:
    return connection.engine.url.render_as_string(hide_password=True)


def _status(connection: Connection) -> DatabaseStatus:
    heads = MigrationContext.configure(connection).get_current_heads()
    head = head_revision()
    where = _describe(connection)
    if len(heads) > 1:
        raise DatabaseVersionError(
            f"The database {where} records several schema revisions ({', '.join(heads)}); it was changed by "
            "hand or by diverging gateway versions. Restore a backup or repair the alembic_version table."
        )
    current = heads[0] if heads else None
    if current is None:
        others = [name for name in sa.inspect(connection).get_table_names() if name != VERSION_TABLE]
        if others:
            raise DatabaseVersionError(
                f"The database {where} already holds tables ({', '.join(sorted(others)[:5])}) but no "
                "schema revision of this gateway. Point XGW_DATABASE_URL at an empty database or at one "
                "created by xoev-gateway."
            )
        return DatabaseStatus(current=None, head=head)
    known = {script.revision for script in script_directory().walk_revisions()}
    if current not in known:
        raise DatabaseVersionError(
            f"The database {where} is at schema revision {current!r}, which this gateway does not know "
            f"(its newest is {head!r}). It was probably upgraded by a newer gateway version: run that "
            "version, or restore the backup taken before the upgrade. Refusing to start."
        )
    return DatabaseStatus(current=current, head=head)


def check_database(engine: Engine) -> DatabaseStatus:
    """Where the schema stands; raises :class:`DatabaseVersionError` if this gateway cannot use it."""
    with engine.connect() as connection:
        return _status(connection)


def upgrade_database(engine: Engine) -> DatabaseStatus:
    """Bring the schema to the newest revision in one transaction, or refuse (see :func:`check_database`)."""
    options = {SQLITE_BEGIN: "IMMEDIATE"} if engine.dialect.name == "sqlite" else {}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        if is_postgresql(engine):
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        status = _status(connection)
        if not status.up_to_date:
            command.upgrade(alembic_config(connection), "head")
    return DatabaseStatus(current=status.head, head=status.head)


def _new_revision(message: str) -> None:
    """Autogenerate a revision from the difference between the migrations and the models."""
    heads = [script.revision for script in script_directory().walk_revisions()]
    rev_id = f"{max((int(h) for h in heads if h.isdigit()), default=0) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        try:
            if heads:
                upgrade_database(engine)
            with engine.begin() as connection:
                command.revision(alembic_config(connection), message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "revision":
        _new_revision(argv[1])
        return 0
    print("usage: python -m gateway.store.migrate revision MESSAGE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
