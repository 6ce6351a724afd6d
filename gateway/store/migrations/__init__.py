"""Alembic migrations of the gateway's database; run them through :mod:`gateway.store.migrate`."""
