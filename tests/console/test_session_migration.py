"""Migration 0007 gives every console user of an existing database its own session identity (SQLite, and
PostgreSQL when set), and the sessions of the new schema work for those users."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from gateway.console.passwords import hash_password
from gateway.console.users import check_sign_in, session_account
from gateway.store.db import create_engine
from gateway.store.migrate import alembic_config, upgrade_database
from tests.store.conftest import available_backends, empty_database


@pytest.mark.parametrize("backend", available_backends())
def test_existing_users_get_distinct_uids_and_generation_zero(backend: str, tmp_path: Path) -> None:
    with empty_database(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                command.upgrade(alembic_config(connection), "0005")
                for name in ("alice", "bob", "carol"):
                    connection.execute(
                        sa.text(
                            "INSERT INTO console_user (name, password_hash, role, created_at) "
                            "VALUES (:name, :hash, 'read-only', CURRENT_TIMESTAMP)"
                        ),
                        {"name": name, "hash": hash_password("correct horse battery staple")},
                    )
            assert upgrade_database(engine).up_to_date
            with engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT uid, session_generation FROM console_user")).all()
            uids = {uuid.UUID(str(uid)) if not isinstance(uid, uuid.UUID) else uid for uid, _ in rows}
            assert len(uids) == 3 and {generation for _, generation in rows} == {0}
            user = check_sign_in(engine, "alice", "correct horse battery staple")
            assert user is not None and user.uid is not None
            assert session_account(engine, user.uid, 0) == user
            assert session_account(engine, user.uid, 1) is None
        finally:
            engine.dispose()
