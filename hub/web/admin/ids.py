"""Numeric row ids in paths, queries and cursors: the one place that decides what is an id.

The database's ids are 64-bit signed integers, so a number above ``2**63 - 1`` cannot name a
row and must never reach a query (SQLite and asyncpg both fail on it: a 500). An id that is
not an integer, below 1 or above that range is a 422 naming the field; a well-formed id that
names no row is the operation's 404.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hub.web.admin.errors import ApiError

#: The largest id a row can have (BIGINT).
MAX_ROW_ID = 2**63 - 1

#: A row id as a pydantic field type (path and query models).
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, description="The hub's id of the object.")]


def is_row_id(value: object) -> bool:
    """Whether ``value`` is an int that can name a row."""
    return (isinstance(value, int) and not isinstance(value, bool)
            and 1 <= value <= MAX_ROW_ID)


def parse_row_id(text: str, field: str = "id") -> int:
    """``text`` as a row id; :class:`ApiError` 422 naming ``field`` otherwise."""
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or not is_row_id(value):
        raise ApiError(422, "invalid_field", f"{field}: not an id (an integer from 1 to "
                       f"{MAX_ROW_ID})", field=field)
    return value
