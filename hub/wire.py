"""Defensive reading of a platform's JSON payload.

Every problem becomes :class:`hub.errors.RequestRejected` (422) naming the field, never its
value, so a malformed webhook is answered 4xx and never raises anything else. Source plugins,
bundled or third-party, use these helpers in ``parse``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hub.errors import RequestRejected
from hub.events import Money

_Model = TypeVar("_Model", bound=BaseModel)

#: Fractions of a second beyond the six digits Python parses (Shopify sends nanoseconds).
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def reject(field: str | None, message: str) -> RequestRejected:
    """A 422 naming ``field``; ``message`` must not contain payload values."""
    return RequestRejected(message, field=field, status=422)


def as_object(value: Any, field: str | None) -> dict[str, Any]:
    """``value`` if it is a JSON object, else a rejection naming ``field``."""
    if not isinstance(value, dict):
        raise reject(field, f"{field or 'the body'} must be a JSON object")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    """``value`` if it is a JSON array (None counts as empty), else a rejection."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise reject(field, f"{field} must be a JSON array")
    return value


def text(obj: Mapping[str, Any], key: str, field: str, *, required: bool = False) -> str | None:
    """``obj[key]`` as text: strings as they are, integers as digits; empty counts as absent."""
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise reject(field, f"{field} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise reject(field, f"{field} must be a string")
    return str(value).strip()


def integer(obj: Mapping[str, Any], key: str, field: str, *,
            default: int | None = None) -> int | None:
    """``obj[key]`` as a non-negative integer (``default`` when absent)."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise reject(field, f"{field} must be a non-negative integer")
    return value


def timestamp(value: Any, field: str) -> datetime:
    """Parse ISO 8601 text (``Z``, any fraction length, a space separator) or Unix seconds.

    A timestamp without a zone is taken as UTC.
    """
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(field)
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            raw = value.strip()
            if raw.isascii() and raw.isdigit():
                return datetime.fromtimestamp(int(raw), tz=UTC)
            parsed = datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", raw))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise reject(field, f"{field} must be an ISO 8601 timestamp")


def decimal(value: Any, field: str) -> Decimal:
    """A finite decimal from a JSON string or number (or an already computed Decimal)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise reject(field, f"{field} must be a decimal amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise reject(field, f"{field} must be a decimal amount") from None
    if not amount.is_finite():
        raise reject(field, f"{field} must be a decimal amount")
    return amount


def money(amount: Any, currency: Any, field: str, currency_field: str) -> Money:
    """A :class:`Money` from an amount and an ISO 4217 code, each checked."""
    value = decimal(amount, field)
    if not isinstance(currency, str):
        raise reject(currency_field, f"{currency_field} must be an ISO 4217 currency code")
    try:
        return Money(amount=value, currency=currency.strip())
    except ValidationError:
        message = f"{currency_field} must be an ISO 4217 currency code"
        raise reject(currency_field, message) from None


def build(model: type[_Model], **values: Any) -> _Model:
    """Construct ``model``, turning a validation failure into a rejection naming the field."""
    try:
        return model(**values)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        location = ".".join(str(part) for part in first["loc"]) or None
        raise reject(location, f"invalid {location or 'event'}: {first['msg']}") from None
