"""Provider status webhooks: recording delivery receipts against our notifications.

A receipt is matched to its notification by our own message id (echoed back by the provider)
or by the provider's message id. Repeated receipts are ignored; a later receipt never moves a
notification back (a "deferred" arriving after "delivered" changes nothing).

A batch (one status webhook) is read and written with a constant number of statements
(:mod:`hub.store.receipts_repo`), whatever its size: the notifications it names, the receipts,
then what the new receipts change, worked out here in memory in the batch's order.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.consent import ConsentBatch
from hub.delivery.engagement import CONSENT_SOURCE, ENGAGEMENT_KIND, EngagementTally, replied_to
from hub.delivery.fallback import FAILED_FOR_GOOD, plan_fallback
from hub.domain.outcome import STATUS_RANK
from hub.logs import get_logger
from hub.messages import DeliveryStatus, StatusUpdate
from hub.store import receipts_repo as repo
from hub.store.models_consent import CONSENT_CHANNELS
from hub.store.storable import storable_updates

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.domain.planner import Planner
    from hub.store.codec import EventCodec
    from hub.store.receipts_repo import Target

#: Notification status a receipt moves to, and how final it is (higher wins).
_RECEIPT_STATE: dict[DeliveryStatus, tuple[str, int]] = {
    DeliveryStatus.ACCEPTED: ("sent", 1),
    DeliveryStatus.DEFERRED: ("sent", 1),
    DeliveryStatus.DELIVERED: ("delivered", 3),
    DeliveryStatus.OPENED: ("delivered", 3),
    DeliveryStatus.CLICKED: ("delivered", 3),
    DeliveryStatus.BOUNCED: ("bounced", 4),
    DeliveryStatus.FAILED: ("failed", 4),
    DeliveryStatus.COMPLAINED: ("delivered", 3),
    DeliveryStatus.UNSUBSCRIBED: ("delivered", 3),
    DeliveryStatus.RESUBSCRIBED: ("delivered", 3),
    DeliveryStatus.REPLIED: ("sent", 0),  # names no message: never moves one
}
_STATUS_VALUES = frozenset(status.value for status in DeliveryStatus)
log = get_logger("hub.receipts")
#: Channel whose preference an unsubscribe receipt turns off, by provider channel.
_UNSUBSCRIBE_CHANNEL = {"sms": "sms", "email": "email"}


def receipt_event_id(update: StatusUpdate) -> str:
    """The provider's event id, or a stable digest when the provider gives none."""
    if update.event_id:
        return update.event_id  # one the column holds (storable_updates saw to that)
    key = "|".join([update.message_id or "", update.provider_message_id or "",
                    update.status.value, update.occurred_at.isoformat()])
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def well_formed(updates: list[Any], provider: str) -> list[StatusUpdate]:
    """The updates a sink's ``parse_status`` returned, as the hub records them: a
    :class:`StatusUpdate` with a :class:`DeliveryStatus` (its value as a string is taken too),
    an aware ``occurred_at``, and text where text goes (a number as an id is taken as its text,
    a missing reason as none). Anything else is a bug in the sink: skipped and logged by
    position (``status_event_skipped``), never a 503 that makes the provider redeliver the
    batch until it gives up."""
    kept = []
    for index, update in enumerate(updates):
        fixed = _as_recorded(update)
        if isinstance(fixed, str):
            log.warning("status_event_skipped", provider=provider, index=index, error=fixed)
            continue
        kept.append(fixed)
    return kept


def _as_recorded(update: Any) -> StatusUpdate | str:
    """``update`` with what is clearly meant made so (a string status, a numeric id, no
    reason), or what is wrong with it."""
    if not isinstance(update, StatusUpdate):
        return f"parse_status gave a {type(update).__name__}, not a StatusUpdate"
    status = update.status
    if not isinstance(status, DeliveryStatus):
        if not isinstance(status, str) or status not in _STATUS_VALUES:
            return "status is not a DeliveryStatus"
        status = DeliveryStatus(status)
    if not isinstance(update.occurred_at, datetime) or update.occurred_at.tzinfo is None:
        return "occurred_at is not an aware datetime"
    ids = [_text(value) for value in (update.message_id, update.provider_message_id,
                                      update.event_id, update.recipient)]
    reason = "" if update.reason is None else _text(update.reason)
    if _NOT_TEXT in ids or reason is _NOT_TEXT:
        return "an id, the recipient or the reason is not text"
    # ``is`` for the status: a StrEnum equals its string, which is what is replaced.
    if status is not update.status or reason != update.reason or ids != [
            update.message_id, update.provider_message_id, update.event_id, update.recipient]:
        update = dataclasses.replace(
            update, status=status, message_id=ids[0], provider_message_id=ids[1],
            event_id=ids[2], recipient=ids[3], reason=reason)
    return update


_NOT_TEXT = object()


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _NOT_TEXT


class ReceiptRecorder:
    """Writes receipts and moves notifications forward; see the module docstring."""

    def __init__(self, codec: EventCodec, planner: Planner,
                 former_names: dict[str, str] | None = None) -> None:
        self.codec = codec
        self.planner = planner
        #: Each sink's names, now and before a rename (``formerly``): stored rows keep them.
        self._names: dict[str, frozenset[str]] = {}
        for former, now in (former_names or {}).items():
            self._names[now] = self._names.get(now, frozenset({now})) | {former}

    def names_of(self, provider: str) -> frozenset[str]:
        """Every name the sink ``provider`` has had (its stored messages name one)."""
        return self._names.get(provider, frozenset({provider}))

    async def record(self, session: AsyncSession, provider: str, channel: str,
                     updates: list[StatusUpdate], now: datetime) -> int:
        """Record ``updates`` from ``provider``, as the store can hold them
        (:func:`~hub.store.storable.storable_updates`); returns how many were new."""
        updates = storable_updates(well_formed(updates, provider), provider)
        names = self.names_of(provider)
        targets = await repo.lock_targets(
            session, names, {u.message_id for u in updates if u.message_id},
            {u.provider_message_id for u in updates if u.provider_message_id})
        by_id = {t.id: t for t in targets}
        by_provider_id: dict[str, Target] = {}
        for target in targets:
            if target.provider in names and target.provider_message_id:
                by_provider_id.setdefault(target.provider_message_id, target)
        found = [self._find(by_id, by_provider_id, u) for u in updates]
        fresh = await self._insert(session, provider, updates, found, now)
        batch = _Batch(self.codec, provider, channel, now, names)
        await batch.read(session, [(u, t) for u, t, new in zip(updates, found, fresh,
                                                              strict=True) if new])
        for update, target, new in zip(updates, found, fresh, strict=True):
            if new:
                batch.apply(update, target)
        await batch.write(session)
        for target in batch.moved.values():
            if target.status in FAILED_FOR_GOOD:
                await plan_fallback(session, self.planner, target,
                                    target.last_error or target.status, now)
        return sum(fresh)

    @staticmethod
    def _find(by_id: dict[str, Target], by_provider_id: dict[str, Target],
              update: StatusUpdate) -> Target | None:
        if update.message_id and update.message_id in by_id:
            return by_id[update.message_id]
        if update.provider_message_id:
            return by_provider_id.get(update.provider_message_id)
        return None

    async def _insert(self, session: AsyncSession, provider: str, updates: list[StatusUpdate],
                      found: list[Target | None], now: datetime) -> list[bool]:
        """Store the receipts; for each update, whether it was new (the first of its event id
        in the batch, and not stored before)."""
        rows: dict[str, dict] = {}
        for update, target in zip(updates, found, strict=True):
            event_id = receipt_event_id(update)
            if event_id not in rows:
                rows[event_id] = {
                    "provider": provider, "event_id": event_id,
                    "notification_id": target.id if target else None,
                    "provider_message_id": update.provider_message_id,
                    "status": update.status.value, "reason": update.reason or None,
                    "occurred_at": update.occurred_at, "received_at": now,
                    # An erased customer's address comes back in the provider's event.
                    "raw_enc": self._raw(update.raw) if target is None
                    or target.recipient_enc is not None else None}
        stored = await repo.insert_receipts(session, list(rows.values()))
        fresh = []
        for update in updates:
            event_id = receipt_event_id(update)
            fresh.append(event_id in stored)
            stored.discard(event_id)
        return fresh


    def _raw(self, raw: Any) -> bytes | None:
        """The provider's event, encrypted; None (logged) when it cannot be written as JSON
        (an object, bytes, a set, nesting too deep): the receipt is recorded without it."""
        try:
            return self.codec.encode_json(raw)
        except (TypeError, ValueError):
            log.warning("status_event_raw_dropped", error="not JSON")
            return None


class _Batch:
    """What a batch's new receipts change: read up front, applied in order, written at once."""

    def __init__(self, codec: EventCodec, provider: str, channel: str, now: datetime,
                 names: frozenset[str] | None = None) -> None:
        self.codec = codec
        self.provider = provider
        #: The sink's names now and before a rename: a message sent under either is its own.
        self.names = names or frozenset({provider})
        self.channel = channel
        #: The channel whose preference an unsubscribe receipt turns off.
        self.pref_channel = _UNSUBSCRIBE_CHANNEL.get(channel, channel)
        self.now = now
        self.moved: dict[str, Target] = {}
        self.timeline: list[dict] = []
        self.tally = EngagementTally()
        self.sent: list[tuple[str, str, datetime]] = []
        self.customer_of_return: dict[int, int] = {}
        self.customers: dict[str, list[int]] = {}
        self.preferences: dict[int, dict] = {}
        self.changed_preferences: dict[int, dict] = {}
        self.consent = ConsentBatch({}, now)

    async def read(self, session: AsyncSession,
                   new: list[tuple[StatusUpdate, Target | None]]) -> None:
        """Everything the new receipts may need: the messages replies answer, the customers
        of the messages unsubscribed from, the customers with an unsubscribing address and
        those customers' consent."""
        lookup = self.codec.cipher.lookup_hash
        replies = [u for u, t in new if t is None and u.status is DeliveryStatus.REPLIED
                   and u.recipient]
        if replies:
            self.sent = await repo.last_sent_to(
                session, self.provider, self.channel,
                {lookup(u.recipient) for u in replies}, max(u.occurred_at for u in replies))
        withdrawing = {t.return_id for u, t in new if t is not None
                       and ENGAGEMENT_KIND.get(u.status) in CONSENT_SOURCE}
        self.customer_of_return = await repo.customers_of_returns(session, withdrawing)
        addresses = {lookup(u.recipient) for u, _ in new if u.recipient and u.status in (
            DeliveryStatus.UNSUBSCRIBED, DeliveryStatus.RESUBSCRIBED)}
        for customer_id, digest, preferences in await repo.customers_by_hash(
                session, self.pref_channel, addresses):
            self.customers.setdefault(digest, []).append(customer_id)
            self.preferences[customer_id] = preferences
        ids = set(self.customer_of_return.values()) | set(self.preferences)
        channels = {t.channel for _, t in new if t is not None} | {self.pref_channel}
        self.consent = ConsentBatch(
            await repo.consent_states(session, ids, channels & set(CONSENT_CHANNELS)), self.now)

    def apply(self, update: StatusUpdate, target: Target | None) -> None:
        """One new receipt, in the batch's order."""
        self._engagement(update, target)
        if update.status in (DeliveryStatus.UNSUBSCRIBED, DeliveryStatus.RESUBSCRIBED) \
                and update.recipient:
            enabled = update.status is DeliveryStatus.RESUBSCRIBED
            for customer_id in self.customers.get(
                    self.codec.cipher.lookup_hash(update.recipient), []):
                preferences = {**self.preferences[customer_id], self.pref_channel: enabled}
                self.preferences[customer_id] = self.changed_preferences[customer_id] = \
                    preferences
                if self.pref_channel in CONSENT_CHANNELS:  # docs/consent.md
                    self.consent.follow_keyword(customer_id, self.pref_channel, enabled)
        if target is not None:
            self._advance(target, update)

    def _engagement(self, update: StatusUpdate, target: Target | None) -> None:
        kind = ENGAGEMENT_KIND.get(update.status)
        if kind is None:
            return
        notification_id = target.id if target is not None else None
        if notification_id is None and kind == "reply" and update.recipient:
            notification_id = replied_to(self.sent,
                                         self.codec.cipher.lookup_hash(update.recipient),
                                         update.occurred_at)
        if notification_id is None:
            return
        self.tally.add(notification_id, kind, update.occurred_at)
        if kind in CONSENT_SOURCE and target is not None \
                and target.channel in CONSENT_CHANNELS:
            customer_id = self.customer_of_return.get(target.return_id)
            if customer_id is not None:
                self.consent.record(customer_id, target.channel, False, CONSENT_SOURCE[kind])

    def _advance(self, target: Target, update: StatusUpdate) -> None:
        """Move the notification forward, unless the receipt changes nothing."""
        status, rank = _RECEIPT_STATE[update.status]
        if update.status is DeliveryStatus.DEFERRED and target.status == "sent" \
                and target.receipt_due_at is not None \
                and (target.provider is None or target.provider in self.names):
            # The provider holds the message and is retrying it (greylisting takes minutes);
            # its verdict (delivered, bounced, dropped) will come. A failover on the missing
            # receipt meanwhile sent a second copy through the next provider (found from
            # outside), so the deadline is lifted.
            target.receipt_due_at = None
            self.moved[target.id] = target
            return
        if rank <= STATUS_RANK.get(target.status, 0):
            return
        if status in FAILED_FOR_GOOD and target.provider is not None \
                and target.provider not in self.names:
            # The failure of a copy an earlier provider sent: the message has since gone out
            # through ``target.provider`` (a failover after a missing receipt), and that copy
            # is what counts (found from outside: a late bounce undid a delivery by the
            # second provider and texted a customer who had opened the email).
            return
        if target.sent_at is None:
            # The provider had it: an outcome that was never known (an error after the
            # provider accepted, a retry pending) is settled by the provider's own word, and
            # the message counts as sent, for time to notify, replies and the dashboard.
            target.sent_at = update.occurred_at
            target.provider = target.provider or self.provider
            target.provider_message_id = (target.provider_message_id
                                          or update.provider_message_id)
            target.last_error = None
        target.status = status
        target.receipt_due_at = None
        if status == "delivered":
            target.delivered_at = update.occurred_at
        if status in ("bounced", "failed"):
            target.last_error = f"{update.status.value}: {update.reason}"[:500]
        self.moved[target.id] = target
        self.timeline.append({
            "return_id": target.return_id, "kind": "notification", "outcome": status,
            "notification_id": target.id,
            "detail": {"channel": target.channel, "receipt": update.status.value,
                       **({"reason": update.reason[:200]} if update.reason else {})},
            "occurred_at": update.occurred_at, "recorded_at": self.now})

    async def write(self, session: AsyncSession) -> None:
        """Write what the batch changed."""
        await repo.write_targets(session, self.moved.values())
        await repo.timeline(session, self.timeline)
        await repo.add_engagement(session, self.provider, self.tally.counts)
        await repo.write_preferences(session, list(self.changed_preferences.items()), self.now)
        await repo.consents(session, self.consent.rows)
