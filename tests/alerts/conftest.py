"""The alert tests run on SQLite and, when available, PostgreSQL (the store's database fixtures)."""

from tests.store.conftest import database_url, empty_engine, engine  # noqa: F401
