"""Keyset pagination: an opaque cursor holding the sort key of the last item of a page."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from hub.web.admin.errors import ApiError
from hub.web.admin.ids import is_row_id


def encode_cursor(*values: Any) -> str:
    """An opaque cursor for the sort key ``values`` (ints, strings, datetimes)."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The sort key in ``cursor``, each value converted to its kind; 422 when malformed."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError
        values = []
        for value, kind in zip(raw, kinds, strict=True):
            if kind is datetime:
                values.append(datetime.fromisoformat(value))
            elif kind is int and is_row_id(value):
                values.append(value)
            elif kind is str and isinstance(value, str):
                values.append(value)
            else:
                raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ApiError(422, "invalid_field", "cursor: not a cursor this API returned",
                       field="cursor") from None
    return tuple(values)


def before(columns: tuple[Any, ...], values: tuple[Any, ...]) -> Any:
    """The keyset condition for a descending sort: rows strictly after ``values``."""
    first, *rest = columns
    if not rest:
        return first < values[0]
    return or_(first < values[0], and_(first == values[0], before(tuple(rest), values[1:])))
