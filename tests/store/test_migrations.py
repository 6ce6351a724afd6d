"""Migrations against real databases: they build exactly the models, and unknown schemas are refused."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from gateway.store.db import create_engine
from gateway.store.migrate import (
    DatabaseVersionError,
    alembic_config,
    check_database,
    head_revision,
    target_metadata,
    upgrade_database,
)

TABLES = {"message", "message_event", "participant", "certificate", "api_token", "delivery_attempt"}


def differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, target_metadata()))


def test_migrations_build_exactly_the_models(empty_engine: Engine) -> None:
    status = upgrade_database(empty_engine)
    assert status.current == status.head == head_revision()
    assert set(sa.inspect(empty_engine).get_table_names()) >= TABLES
    assert differences(empty_engine) == []


def test_comparison_notices_a_missing_index(engine: Engine) -> None:
    """Guards the test above: the comparison must see a drifted schema."""
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_message_queue")
    diff = differences(engine)
    assert any("ix_message_queue" in repr(entry) for entry in diff), diff


def test_empty_database_needs_upgrade(empty_engine: Engine) -> None:
    status = check_database(empty_engine)
    assert status.current is None
    assert not status.up_to_date


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    assert upgrade_database(engine).up_to_date
    assert check_database(engine).up_to_date


def test_newer_revision_is_refused_with_advice(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    with pytest.raises(DatabaseVersionError, match=r"revision '0999'.*newer gateway version"):
        check_database(engine)
    with pytest.raises(DatabaseVersionError, match="Refusing to start"):
        upgrade_database(engine)


def test_foreign_tables_without_revision_are_refused(empty_engine: Engine) -> None:
    with empty_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(DatabaseVersionError, match=r"already holds tables \(invoices\)"):
        upgrade_database(empty_engine)
    assert "message" not in sa.inspect(empty_engine).get_table_names()


def test_error_message_hides_the_password(empty_engine: Engine) -> None:
    with empty_engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(DatabaseVersionError) as excinfo:
        check_database(empty_engine)
    password = empty_engine.url.password
    if password:
        assert str(password) not in str(excinfo.value)


def test_downgrade_to_base_removes_every_table(engine: Engine) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    assert check_database(engine).current is None


def test_concurrent_upgrades_migrate_once(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def upgrade(engine: Engine) -> None:
        start.wait()
        try:
            upgrade_database(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert check_database(engines[0]).up_to_date
        assert differences(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()
