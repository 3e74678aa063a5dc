"""What the store can hold, checked before an event joins an inbox group commit.

An event the database would refuse (a NUL byte, a value longer than its column, an amount
past its precision) must be refused at ingress with a 422 naming the field, the same on SQLite
(which enforces no lengths) as on PostgreSQL, and an accepted event must be one the applier
can write. The bounds come from the column types in :mod:`hub.store.models` (:data:`COLUMNS`
says which columns each field of :class:`~hub.events.ReturnEvent` ends up in); fields kept
only inside encrypted JSON (:data:`ENCRYPTED`) have no length bound.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from hub.contact import email_problem, phone_problem
from hub.errors import RequestRejected
from hub.events import PRIVACY_EVENTS
from hub.logs import get_logger
from hub.store.models import Customer, InboxEvent, Notification, PortalMessage, Return
from hub.store.models_delivery import DeliveryReceipt

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Column

    from hub.events import ReturnEvent
    from hub.messages import StatusUpdate

_INBOX, _RETURNS, _CUSTOMERS = InboxEvent.__table__.c, Return.__table__.c, Customer.__table__.c
_RECEIPTS = DeliveryReceipt.__table__.c
log = get_logger("hub.store.storable")

#: Where each field lands outside encrypted JSON: dotted path -> the columns holding it.
COLUMNS: dict[str, tuple[Column, ...]] = {
    "type": (_INBOX.event_type,),
    "source": (_INBOX.source, _RETURNS.source),
    "source_event_id": (_INBOX.source_event_id,),
    "return_id": (_INBOX.return_ref, _RETURNS.external_id, PortalMessage.__table__.c.return_ref),
    "order_id": (_RETURNS.order_ref,),
    "order_number": (_RETURNS.order_number,),
    "customer_reference": (_RETURNS.customer_reference,),
    "reason": (_RETURNS.reason,),
    "refund_method": (_RETURNS.refund_method,),
    "order_total.amount": (_RETURNS.order_total,),
    "order_total.currency": (_RETURNS.currency,),
    "refund_amount.amount": (_RETURNS.refund_amount,),
    "refund_amount.currency": (_RETURNS.currency,),
    "tracking.number": (_INBOX.tracking_number, _RETURNS.tracking_number),
    "tracking.carrier": (_RETURNS.carrier,),
    "tracking.url": (_RETURNS.tracking_url,),
    "tracking.label_url": (_RETURNS.label_url,),
    # Stored as "<source>:<id>" (customers.identity, portal_messages.customer_key).
    "customer.id": (_CUSTOMERS.identity, PortalMessage.__table__.c.customer_key),
    "customer.locale": (_CUSTOMERS.locale, Notification.__table__.c.locale),
    "customer.timezone": (_CUSTOMERS.timezone,),
    "occurred_at": (_INBOX.occurred_at, _RETURNS.last_event_at),
}
#: Fields kept only inside encrypted JSON or encrypted columns (any length).
ENCRYPTED = frozenset({"customer.email", "customer.phone", "customer.name", "customer.tags",
                       "customer.attributes", "items", "tracking.estimated_delivery", "raw",
                       "extra"})
#: Ids, references, codes, addresses and names: a control character in them makes no sense
#: (a line break in an email address would reach a header). Free text (reason) may have one.
NO_CONTROL = frozenset({"source", "source_event_id", "return_id", "order_id", "order_number",
                        "customer_reference",
                        "refund_method", "tracking.number", "tracking.carrier", "tracking.url",
                        "tracking.label_url", "customer.id", "customer.email", "customer.phone",
                        "customer.name", "customer.locale", "customer.timezone"})

#: What no string may carry anywhere: PostgreSQL text cannot hold NUL, UTF-8 no lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHECKED = tuple(dict.fromkeys([*COLUMNS, *sorted(NO_CONTROL)]))


def check_storable(event: ReturnEvent) -> str:
    """The JSON of ``event`` as the inbox stores it; raises
    :class:`~hub.errors.RequestRejected` (422, the field named, no value repeated) when the
    store could not hold ``event`` or its contact details break the shared rules."""
    screen, text = _screen(event)
    problem = _problem(event, screen)
    if problem is not None:
        field, why = problem
        raise RequestRejected(f"{field}: {why}", field=field)
    return text


def _problem(event: ReturnEvent, screen: str) -> tuple[str, str] | None:
    if screen is _REFUSED:
        # Measured without recursion first: the walk below recurses, and the parser lets
        # through nesting deeper than Python's recursion limit.
        path, depth = _deepest(event)
        if depth > MAX_DEPTH:
            return path, f"is nested more than {MAX_DEPTH} levels deep"
    if screen is not _FINE:
        for path, text in _strings(event, ""):
            if _UNSTORABLE.search(text):
                return path, "contains a NUL byte or an unpaired surrogate"
        if screen is _REFUSED:  # no string to blame: pydantic refused it all the same
            return _deepest(event)[0], "cannot be stored"
    for path, value in _leaves(event):
        if isinstance(value, str):
            if path in NO_CONTROL and _CONTROL.search(value):
                return path, "contains a control character or line break"
            limit = max_length(path, event.source)
            if limit is not None and len(value) > limit:
                return path, f"is longer than {limit} characters"
        elif isinstance(value, Decimal):
            why = _amount_problem(value, COLUMNS[path][0])
            if why:
                return path, why
        elif isinstance(value, datetime):
            try:
                value.astimezone(UTC)
            except OverflowError:
                return path, "is out of range once converted to UTC"
    if event.customer is not None and event.type not in PRIVACY_EVENTS:
        # A privacy request is never refused over a contact's format: it only finds people.
        for name, rule in (("email", email_problem), ("phone", phone_problem)):
            value = getattr(event.customer, name)
            why = rule(value.strip()) if value else None
            if why:
                return f"customer.{name}", why
    return None


def max_length(path: str, source: str = "") -> int | None:
    """The longest string the columns of ``path`` hold (None: unbounded)."""
    limit = _column_limit(path)
    if limit is not None and path == "customer.id":
        return limit - len(source) - 1  # "<source>:" comes first
    return limit


@cache
def _column_limit(path: str) -> int | None:
    lengths = [length for column in COLUMNS.get(path, ())
               if (length := getattr(column.type, "length", None)) is not None]
    return min(lengths) if lengths else None


def stored_amount(value: Decimal, column: Column) -> Decimal:
    """``value`` as the numeric ``column`` holds it: rounded half up to the column's scale
    (as PostgreSQL rounds; the store writes SQLite's amounts already rounded so)."""
    return value.quantize(Decimal(1).scaleb(-column.type.scale), rounding=ROUND_HALF_UP)


def _amount_problem(value: Decimal, column: Column) -> str | None:
    precision, scale = column.type.precision, column.type.scale
    if not value.is_finite():
        return "is not a finite number"
    bound = Decimal(10) ** (precision - scale)
    try:
        rounded = stored_amount(value, column)
    except InvalidOperation:
        rounded = value
    if abs(rounded) >= bound:
        return f"has more than {precision - scale} digits before the decimal point"
    return None


def _leaves(event: ReturnEvent) -> Iterator[tuple[str, Any]]:
    """(path, value) of every field of :data:`COLUMNS` and :data:`NO_CONTROL` that is set."""
    for path in _CHECKED:
        value: Any = event
        for part in path.split("."):
            value = getattr(value, part, None)
            if value is None:
                break
        if value is not None:
            yield path, value


_FINE, _SUSPECT, _REFUSED = "fine", "suspect", "refused"
#: The deepest nesting stored: pydantic's serializer, which writes the inbox row, stops at
#: about 250 levels (with the event's own two).
MAX_DEPTH = 200


def _screen(event: ReturnEvent) -> tuple[str, str]:
    """A screen before the walk of :func:`_strings`, which names the field: pydantic's JSON
    of the event (every string, dict keys too, in one pass in Rust) escapes a NUL as
    ``\\u0000`` (suspect: a string that spells ``\\u0000`` only costs the walk) and refuses
    an unpaired surrogate or a payload nested deeper than its serializer goes (refused: the
    store writes the event with that serializer, so it could never be stored). With the
    verdict, the JSON (the inbox stores it: it is not made twice)."""
    try:
        text = event.model_dump_json()
    except (PydanticSerializationError, UnicodeError):
        return _REFUSED, ""
    return (_SUSPECT if "\\u0000" in text else _FINE), text


def _deepest(event: ReturnEvent) -> tuple[str, int]:
    """The field whose value is nested deepest (``extra``, or a key of ``raw`` as the sender
    named it) and how deep, found without recursion: the parser allows 1,024 levels."""
    deepest, best = "", -1
    for name in type(event).model_fields:
        value = getattr(event, name)
        roots = ([(_join("", k if isinstance(k, str) and _KEY.fullmatch(k) else "<key>"), v)
                  for k, v in value.items()] if name == "raw" and isinstance(value, dict)
                 else [(name, value)])
        for path, root in roots:
            stack = [(root, 0)]
            while stack:
                item, depth = stack.pop()
                if depth > best:
                    deepest, best = path, depth
                if isinstance(item, dict):
                    stack.extend((inner, depth + 1) for inner in item.values())
                elif isinstance(item, (list, tuple)):
                    stack.extend((inner, depth + 1) for inner in item)
    return deepest, best


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` (dict keys too) with where it is. A path names the event's
    fields, and keys of the platform's own payload (``raw``) as the sender knows them; a key
    that is not a plain name is shown as ``<key>`` (it may be the sender's data)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            inner = "" if name == "raw" and not path else _join(path, name)
            yield from _strings(getattr(value, name), inner)
    elif isinstance(value, dict):
        for key, inner in value.items():
            key_path = _join(path, key if isinstance(key, str) and _KEY.fullmatch(key)
                             else "<key>")
            if isinstance(key, str):
                yield key_path, key
            yield from _strings(inner, key_path)
    elif isinstance(value, (list, tuple)):
        for index, inner in enumerate(value):
            yield from _strings(inner, _join(path, str(index)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def storable_updates(updates: list[StatusUpdate], provider: str) -> list[StatusUpdate]:
    """A status webhook's updates as the store can hold them, the same on SQLite as on
    PostgreSQL: an id that no stored message can have (a NUL byte, an unpaired surrogate,
    longer than its column) matches nothing and is dropped, and an update whose every id was
    so is skipped and logged, as a malformed one is (one that named none, a reply or an
    opt-out found by its sender, is kept); an event id too long
    or unstorable is replaced by its digest (cut short, two events would be one); a NUL or
    an unpaired surrogate in the reason (a remote mail server's words) becomes U+FFFD.
    A batch is never refused for one event in it: the provider would retry the whole batch,
    the good receipts in it too, until it gave up."""
    kept = []
    for index, update in enumerate(updates):
        message_id = _fits(update.message_id, Notification.__table__.c.id)
        provider_id = _fits(update.provider_message_id, _RECEIPTS.provider_message_id)
        named = update.message_id is not None or update.provider_message_id is not None
        if named and message_id is None and provider_id is None:  # (a reply names none)
            log.warning("status_event_skipped", provider=provider, index=index,
                        error="UnstorableId")
            continue
        event_id = update.event_id
        if event_id is not None and _fits(event_id, _RECEIPTS.event_id) is None:
            event_id = "sha256:" + hashlib.sha256(
                event_id.encode("utf-8", "surrogatepass")).hexdigest()
        reason = _UNSTORABLE.sub("\ufffd", update.reason) if update.reason else update.reason
        recipient = update.recipient if update.recipient is None \
            or not _UNSTORABLE.search(update.recipient) else None
        if (message_id, provider_id, event_id, reason, recipient) != (
                update.message_id, update.provider_message_id, update.event_id,
                update.reason, update.recipient):
            update = replace(update, message_id=message_id, provider_message_id=provider_id,
                             event_id=event_id, reason=reason, recipient=recipient)
        kept.append(update)
    return kept


def _fits(value: str | None, column: Column) -> str | None:
    """``value`` if ``column`` can hold it, else None."""
    if value is None or len(value) > column.type.length or _UNSTORABLE.search(value):
        return None
    return value
