"""The declarative base every table shares, with its naming convention and column types."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import BigInteger, DateTime, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001, ANN201
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def bind_processor(self, dialect):  # noqa: ANN001, ANN201
        """On SQLite, one step to SQLAlchemy's text form (``YYYY-MM-DD HH:MM:SS.ffffff``):
        the decorator's hook followed by the dialect's ``%``-formatting cost half as much
        again, for every datetime of every row written."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The last value and its text: a batch's rows share one ``now`` (recorded_at,
        # updated_at, lease ends), which is then written out once. One tuple, replaced whole,
        # so that threads binding at once never pair a value with another's text.
        last: list[tuple[object, str | None]] = [(None, None)]

        def process(value):  # noqa: ANN001, ANN202
            seen, text = last[0]
            if value is seen:
                return text
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            utc = value if value.tzinfo is UTC else value.astimezone(UTC)
            # Cut "+00:00" off rather than drop the zone first: ``replace`` cost as much as
            # the formatting, some thirty times an event.
            text = utc.isoformat(" ", "microseconds")[:26]
            last[0] = (value, text)
            return text

        return process


NAMING = {
    "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Integer primary keys that autoincrement on both SQLite and PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can diff."""

    metadata = MetaData(naming_convention=NAMING)
