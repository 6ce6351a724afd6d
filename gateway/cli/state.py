"""Where the command line finds the gateway's state, and the rule that reading it never creates it.

The data directory defaults to ``./var`` relative to the working directory (gateway/config.py), so an
operator who runs ``xgw queue ls`` from the wrong folder would, with a plain "open the database", get a
brand-new empty database there and an empty answer that looks true. Commands that only read or act on
existing state therefore open the database with ``create=False``: when there is no gateway database yet
they refuse and name the absolute place they looked and the setting that moves it. Commands that
legitimately create state (``participants import``, ``tokens create``, ``console-users add``; ``serve``
and ``worker`` elsewhere) pass ``create=True`` and upgrade or create the schema as before.
"""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.config import Settings
from gateway.store.db import create_engine, database_url
from gateway.store.migrate import DatabaseVersionError, check_database, upgrade_database

#: exit code of a command that found no gateway state: a setup problem, as in ``xgw validate``
NO_STATE = 2


class NoGatewayState(click.ClickException):
    """There is no gateway database where the settings point; nothing was created."""

    exit_code = NO_STATE


def describe_location(settings: Settings) -> str:
    """Where this command's state lives, for people: the data directory, or the database URL (no password)."""
    if settings.database_url:
        url = sa.make_url(settings.database_url).render_as_string(hide_password=True)
        return f"the database {url} (XGW_DATABASE_URL)"
    return f"{settings.data_dir.resolve()} (XGW_DATA_DIR)"


def _sqlite_file(url: str) -> Path | None:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _refusal(settings: Settings) -> NoGatewayState:
    return NoGatewayState(
        f"no gateway data in {describe_location(settings)}; start the gateway with `xgw serve` first, "
        "or set XGW_DATA_DIR (or XGW_DATABASE_URL) to the data of the gateway you mean"
    )


def open_engine(settings: Settings, *, create: bool) -> Engine:
    """The configured database at this gateway's schema.

    ``create=False`` (reading commands): refuse with :class:`NoGatewayState` when there is no gateway
    database yet, without creating a file or a table. ``create=True``: create or upgrade it.
    A database this gateway cannot use (written by a newer version, foreign tables) is refused either way.
    """
    url = database_url(settings)
    if not create:
        file = _sqlite_file(url)
        if file is not None and not file.is_file():
            raise _refusal(settings)
    engine = create_engine(url)
    try:
        if not create and check_database(engine).current is None:
            raise _refusal(settings)
        upgrade_database(engine)
    except DatabaseVersionError as exc:
        engine.dispose()
        raise click.ClickException(str(exc)) from None
    except BaseException:
        engine.dispose()
        raise
    return engine
