"""What a failed database write means, and how to say so without leaking data.

``str()`` of a SQLAlchemy error carries the statement and its parameters (keyed hashes,
ciphertext, customer references), and some driver messages quote the value they refused. Every
error text the hub stores or logs from a caught exception goes through :func:`safe_error`.
"""

from __future__ import annotations

import re
from functools import cache

from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

#: SQLSTATE classes of a statement the database refused for its data: 22 data exception
#: (value too long, NUL byte, out of range), 23 integrity constraint violation.
_REFUSED_CLASSES = ("22", "23")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_MAX_CHARS = 300


def is_refusal(exc: BaseException) -> bool:
    """Whether the database (or the driver binding the values) refused the data itself, so
    that the same write would fail again; False for an outage, a timeout or a lock conflict,
    which a retry may get past."""
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(state, str) and state[:2] in _REFUSED_CLASSES
    # Raised while binding a value (an out-of-range date, a string that cannot be encoded):
    # wrapped in a StatementError whose cause is no driver error.
    return isinstance(exc, StatementError) and isinstance(
        exc.orig, (ValueError, TypeError, OverflowError, UnicodeError))


def may_pass(exc: BaseException) -> bool:
    """Whether the same write may succeed once the database is back: an outage, a timeout, a
    lock conflict (the driver's errors and the network's), not a refusal of the data and not
    a bug of the caller's."""
    return isinstance(exc, DBAPIError | OSError | TimeoutError) and not is_refusal(exc)


def safe_error(exc: BaseException) -> str:
    """``"<class>: <message>"`` fit to store or log: for SQLAlchemy errors the driver's first
    line without statement or parameters; quoted values are replaced by ``…`` unless they name
    a table, column, constraint or index of the schema."""
    label = type(exc).__name__
    if isinstance(exc, StatementError) and exc.orig is not None:
        message = _first_line(str(exc.orig))
        # asyncpg's own class (e.g. StringDataRightTruncationError) says more than DBAPIError.
        driver = type(exc.orig.__cause__ or exc.orig).__name__
        if driver != label:
            label = f"{label} ({driver})"
    elif isinstance(exc, ValidationError):
        # Pydantic's text repeats the input; say where the errors are, not what was there.
        message = "invalid " + ", ".join(".".join(map(str, e["loc"])) or "value"
                                         for e in exc.errors(include_input=False)[:5])
    else:
        message = _first_line(str(exc))
    message = _QUOTED.sub(_keep_schema_names, message)
    return f"{label}: {message}"[:_MAX_CHARS] if message else label


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def _keep_schema_names(match: re.Match[str]) -> str:
    quoted = match.group(0)
    return quoted if quoted[1:-1] in _schema_names() else "…"


@cache
def _schema_names() -> frozenset[str]:
    from hub.store.models import Base

    names: set[str] = set()
    for table in Base.metadata.tables.values():
        names.add(table.name)
        names.update(column.name for column in table.columns)
        names.update(str(c.name) for c in table.constraints if c.name)
        names.update(str(i.name) for i in table.indexes if i.name)
    return frozenset(names)
