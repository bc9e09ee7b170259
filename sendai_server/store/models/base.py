"""What every table shares: the declarative base with its naming convention, the UTC datetime
type, the id type, and the rows' default time (the team's clock: docs/clock.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase

from ...domain import clock

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

utcnow = clock.now  # the rows' default: the team's now (clock.py, docs/clock.md)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on every database, always handed back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """On SQLite, the stored text ('2026-12-07 20:00:00.000123', SQLAlchemy's DateTime
        format there) straight to an aware datetime: one call per value, where the generic
        path takes three (a regular expression, the datetime, the replace). Every row the
        hot path reads carries several of them. Elsewhere the driver already hands back a
        datetime and the generic path is one call."""
        if dialect.name == "sqlite":
            return _sqlite_text_to_utc
        return super().result_processor(dialect, coltype)


def _sqlite_text_to_utc(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ID = String(64)

