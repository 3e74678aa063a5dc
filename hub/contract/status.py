"""Helpers for status webhooks that post a JSON batch of events.

:func:`parse_batch` walks the batch and hands each event object to the sink's own reading of
one event. The batch's shape is checked (a JSON array of objects, else RequestRejected naming
the field), and an event whose fields are not what the provider documents is skipped and
logged by position, so one odd event never costs the rest of the batch: the provider, having
had an error, would redeliver the whole batch, and the odd event with it, for days.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from hub.errors import RequestRejected
from hub.logs import get_logger, redact_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.messages import StatusUpdate

#: Longest reason text kept on a status update.
REASON_CHARS = 300

_log = get_logger(__name__)


def parse_batch(batch: Any, read_event: Callable[[dict[str, Any]], StatusUpdate | None], *,
                field: str = "body", provider: str = "") -> list[StatusUpdate]:
    """One update per event ``read_event`` understands (None: not an event the hub records).

    :param batch: the decoded JSON batch.
    :param field: the batch's name in RequestRejected (``"mandrill_events"``).
    :raises RequestRejected: the batch is not an array, or an item is not an object.
    """
    if not isinstance(batch, list):
        raise RequestRejected(f"{field} must be a JSON array", field=field)
    updates = []
    for index, event in enumerate(batch):
        if not isinstance(event, dict):
            raise RequestRejected("each event must be an object", field=f"{field}[{index}]")
        try:
            update = read_event(event)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            _log.warning("status_event_skipped", provider=provider, index=index,
                         error=type(exc).__name__)
            continue
        if update is not None:
            updates.append(update)
    return updates


def event_time(stamp: Any, fallback: datetime) -> datetime:
    """A Unix time (seconds) as an aware datetime; ``fallback`` when absent or impossible."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
    return fallback


def hashed_event_id(prefix: str, *parts: Any) -> str:
    """A stable dedupe key for an event the provider gives no id: ``prefix`` and the SHA-256
    of ``parts`` joined by U+001F (a dict as JSON with sorted keys, so a redelivery in another
    key order is the same event)."""
    data = b"\x1f".join(_canonical(part) for part in parts)
    return f"{prefix}{hashlib.sha256(data).hexdigest()}"


def _canonical(part: Any) -> bytes:
    if not isinstance(part, dict):
        return str(part).encode()
    try:
        return orjson.dumps(part, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers past 64 bits, which orjson refuses and JSON allows
        return json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode()


def reason_text(text: Any) -> str:
    """A provider's reason as a status update keeps it: emails and phones masked, shortened."""
    return redact_text(str(text))[:REASON_CHARS] if text else ""


def optional_text(value: Any) -> str | None:
    """A string id from an event field, or None when absent or empty."""
    return str(value) if value else None
