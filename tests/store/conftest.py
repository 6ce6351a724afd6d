"""Database fixtures: every test that asks for ``database_url`` runs on SQLite and, when available, PostgreSQL.

PostgreSQL is used when ``XGW_TEST_POSTGRES_URL`` points at a server where the user may create databases
(``scripts/test`` and ``.ci/run`` start a throw-away cluster and set it). Each test gets a database of
its own: an SQLite file in ``tmp_path``, or a freshly created PostgreSQL database that is dropped after
the test. These fixtures are written so that they can move to ``tests/conftest.py`` unchanged.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.db import create_engine, normalise_url
from gateway.store.migrate import upgrade_database
from gateway.store.payloads import PayloadStore

POSTGRES_ENV = "XGW_TEST_POSTGRES_URL"


def available_backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


def _quote(name: str) -> str:
    assert name.replace("_", "").isalnum()
    return f'"{name}"'


@contextmanager
def empty_database(backend: str, folder: Path, prefix: str = "xgw_test") -> Iterator[str]:
    """The URL of an empty database of its own: an SQLite file in ``folder``, or a PostgreSQL database
    created on the test server and dropped (with its connections) afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'gateway.db'}"
        return
    server = normalise_url(os.environ[POSTGRES_ENV])
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {_quote(name)}")
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")
    finally:
        admin.dispose()


@pytest.fixture(params=available_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of this test's own."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[Engine]:
    """An engine on the empty test database (no tables yet)."""
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """An engine on a test database migrated to the newest schema."""
    upgrade_database(empty_engine)
    return empty_engine


@pytest.fixture
def payload_store(tmp_path: Path) -> PayloadStore:
    return PayloadStore(tmp_path / "payloads")
