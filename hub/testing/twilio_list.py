"""The fake Twilio's Message list: filters and paging as the 2010-04-01 API answers them.

``GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` lists messages newest first (by
``date_sent``) and takes ``To``, ``From``, ``DateSent`` (one day, or one instant), ``DateSent>``
(on or after) and ``DateSent<`` (on or before), ``PageSize`` (default 50, at most 1000),
``Page`` (the page index, for the client's state) and ``PageToken``. A date is ``YYYY-MM-DD``
(the whole GMT day) or an ISO 8601 time such as the SDK sends (``2026-12-03T06:40:00Z``),
compared to the second; a message still queued has no ``date_sent`` and no date filter
matches it. ``next_page_uri`` carries the filters and a token ``PA<sid>`` naming
the last message of the page, so paging does not shift when new messages arrive meanwhile;
``previous_page_uri`` carries ``PB<sid>`` naming the first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
#: The query parameters kept in the page URIs, in Twilio's order.
_FILTERS = ("To", "From", "DateSent", "DateSent>", "DateSent<")


class ListError(ValueError):
    """A list request Twilio answers 400 (code 20001); the message names the parameter."""


def _instant(value: str, parameter: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ListError(f"Invalid {parameter}: expected YYYY-MM-DD or an ISO 8601 time"
                        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def date_bounds(query: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    """The ``[first, last]`` seconds a message's ``date_sent`` must fall in (None: open)."""
    low: datetime | None = None
    high: datetime | None = None
    for parameter in ("DateSent", "DateSent>", "DateSent<"):
        value = query.get(parameter)
        if value is None or value == "":
            continue
        if len(value) == 10:  # a GMT day
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ListError(f"Invalid {parameter}: expected YYYY-MM-DD or an ISO 8601 "
                                "time") from None
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            first, last = start, start + timedelta(days=1) - timedelta(seconds=1)
        else:
            first = last = _instant(value, parameter).replace(microsecond=0)
        if parameter in ("DateSent", "DateSent>"):
            low = first if low is None else max(low, first)
        if parameter in ("DateSent", "DateSent<"):
            high = last if high is None else min(high, last)
    return low, high


def page_size_of(query: Mapping[str, str]) -> int:
    """``PageSize``: 1 to 1000 (larger is capped at 1000, as Twilio does), default 50."""
    raw = query.get("PageSize") or str(DEFAULT_PAGE_SIZE)
    try:
        size = int(raw)
    except ValueError:
        raise ListError("Invalid PageSize: expected an integer from 1 to 1000") from None
    if size < 1:
        raise ListError("Invalid PageSize: expected an integer from 1 to 1000")
    return min(size, MAX_PAGE_SIZE)


def matching(messages: Sequence[dict[str, Any]], query: Mapping[str, str]
             ) -> list[dict[str, Any]]:
    """The stored messages (each ``{"resource": ..., "sent": datetime}``, in the order they
    were accepted) that pass the filters, newest first (the later accepted first within one
    second). A message still queued has no ``date_sent``: any date filter leaves it out."""
    to, from_ = query.get("To"), query.get("From")
    low, high = date_bounds(query)
    chosen = []
    # A stable sort: among equal times the reversed acceptance order stays.
    for message in sorted(reversed(messages), key=lambda m: m["sent"], reverse=True):
        resource = message["resource"]
        if to is not None and resource["to"] != to:
            continue
        if from_ is not None and resource["from"] != from_:
            continue
        if low is not None or high is not None:
            sent = message["sent"]
            if resource["date_sent"] is None or (low is not None and sent < low) \
                    or (high is not None and sent > high):
                continue
        chosen.append(message)
    return chosen


def _position_after_token(chosen: list[dict[str, Any]], token: str) -> tuple[int, int]:
    """The slice ``[start, stop)`` a page token asks for, before the page size is applied."""
    kind, sid = token[:2], token[2:]
    for index, message in enumerate(chosen):
        if message["resource"]["sid"] == sid:
            return (index + 1, len(chosen)) if kind == "PA" else (0, index)
    raise ListError("Invalid PageToken")


def list_page(messages: Sequence[dict[str, Any]], query: Mapping[str, str], base_uri: str
              ) -> dict[str, Any]:
    """One page of the list, shaped like Twilio's answer (``messages`` plus the paging keys)."""
    size = page_size_of(query)
    try:
        page = int(query.get("Page") or 0)
    except ValueError:
        raise ListError("Invalid Page: expected an integer") from None
    chosen = matching(messages, query)
    token = query.get("PageToken")
    if token:
        if token[:2] not in ("PA", "PB"):
            raise ListError("Invalid PageToken")
        start, stop = _position_after_token(chosen, token)
        if token[:2] == "PB":
            start = max(start, stop - size)
    else:
        start, stop = page * size, len(chosen)
    shown = chosen[start:min(stop, start + size)]
    filters = {name: query[name] for name in _FILTERS if query.get(name)}

    def uri(page_index: int, page_token: str | None = None) -> str:
        params = {**filters, "PageSize": size, "Page": page_index}
        if page_token:
            params["PageToken"] = page_token
        return f"{base_uri}?{urlencode(params)}"

    more_after = start + len(shown) < len(chosen)
    first_index = page * size
    return {
        "messages": [message["resource"] for message in shown],
        "end": first_index + max(len(shown) - 1, 0), "first_page_uri": uri(0),
        "next_page_uri": (uri(page + 1, "PA" + shown[-1]["resource"]["sid"])
                          if shown and more_after else None),
        "page": page, "page_size": size,
        "previous_page_uri": (uri(page - 1, "PB" + shown[0]["resource"]["sid"])
                              if shown and page > 0 else None),
        "start": first_index, "uri": uri(page, token),
    }
