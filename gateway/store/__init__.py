"""Storage layer: what the pipeline keeps, and how workers share it safely.

- :mod:`gateway.store.payloads` -- message bytes in a content-addressed file store (never in rows).
- :mod:`gateway.store.models` -- the tables (messages, events, participants, credentials, attempts).
- :mod:`gateway.store.db` -- engines for SQLite (embedded default) and PostgreSQL, sessions.
- :mod:`gateway.store.migrate` -- Alembic migrations: upgrade on start, refuse unknown schemas.
- :mod:`gateway.store.queue` -- leases, fenced state transitions with their events, recovery.

Order of a write that must never be half done: store the payload first (``put_stream``), then commit the
row that references it; a payload without a row is garbage that ``collect_garbage`` removes later,
a row without its payload cannot happen.
"""
