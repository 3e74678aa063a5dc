"""Fast JSON helpers (orjson) with the hub's error conventions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from hub.errors import RequestRejected


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Serialize to compact JSON bytes; decimals become strings so no precision is lost."""
    return orjson.dumps(value, default=_default)


def loads(data: bytes | str) -> Any:
    """Parse JSON bytes or text."""
    return orjson.loads(data)


def loads_body(body: bytes) -> Any:
    """Parse a request body, turning any decode error into a 400 that names no payload value."""
    if not body:
        raise RequestRejected("the request body is empty", status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestRejected(f"the body is not valid JSON ({exc.msg})", status=400) from None
