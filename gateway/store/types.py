"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


def utcnow() -> datetime:
    """The one clock of the storage layer: aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always aware and in UTC when it leaves the database.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones and would hand back naive values, which
    compare wrongly with aware ones. Values are normalised to UTC before they are written, so that
    SQLite's text comparison (``lease_expires_at <= :now``) orders them correctly, and naive values are
    refused instead of being guessed.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only accepts aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_class: type[enum.StrEnum], length: int = 32) -> sa.Enum:
    """Store an enum as its value in a VARCHAR, without a database enum type or CHECK constraint.

    New states or kinds can then be added in code without a migration; the model validates values.
    """
    return sa.Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=_enum_values,
        validate_strings=True,
    )


def _enum_values(enum_class: type[enum.Enum]) -> list[str]:
    return [str(member.value) for member in enum_class]


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON on both databases (``JSONB`` would tie us to PostgreSQL without a need for its operators)."""
    return sa.JSON()
