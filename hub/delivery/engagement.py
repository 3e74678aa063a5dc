"""Engagement from provider status webhooks: opens, clicks, unsubscribes, spam reports and
SMS replies, one row per (notification, kind) in ``message_engagement`` (docs/engagement.md).

The receipt recorder (hub/delivery/receipts.py) counts only receipts it had not seen (the
``delivery_receipts`` unique key dedupes the providers' repeats), so ``events`` counts distinct
provider events. A batch's engagement is tallied here in memory and written by
:func:`hub.store.receipts_repo.add_engagement` in one go. An unsubscribe or spam report also
withdraws the customer's marketing consent on that channel (:data:`CONSENT_SOURCE`, through
:class:`hub.consent.ConsentBatch`); transactional messages (the channel preference) are left
alone: a spam report on a refund email is no reason to stop telling the customer about their
refund."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.messages import DeliveryStatus

if TYPE_CHECKING:
    from datetime import datetime

#: Receipt status → engagement kind.
ENGAGEMENT_KIND: dict[DeliveryStatus, str] = {
    DeliveryStatus.OPENED: "open",
    DeliveryStatus.CLICKED: "click",
    DeliveryStatus.UNSUBSCRIBED: "unsubscribe",
    DeliveryStatus.COMPLAINED: "complaint",
    DeliveryStatus.REPLIED: "reply",
}
#: Kinds that withdraw marketing consent, and the consent source they are recorded with.
CONSENT_SOURCE = {"unsubscribe": "unsubscribe", "complaint": "spam_report"}


class EngagementTally:
    """A batch's engagement: (notification id, kind) → (events, first at, last at)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], tuple[int, datetime, datetime]] = {}

    def add(self, notification_id: str, kind: str, at: datetime) -> None:
        """Count one new receipt of ``kind`` about ``notification_id`` at ``at``."""
        key = (notification_id, kind)
        events, first, last = self.counts.get(key, (0, at, at))
        self.counts[key] = (events + 1, min(first, at), max(last, at))


def replied_to(sent: list[tuple[str, str, datetime]], recipient_hash: str | None,
               at: datetime) -> str | None:
    """The id of the last message sent to ``recipient_hash`` at or before ``at``, from
    ``sent`` (hash, id, sent at), newest first (hub.store.receipts_repo.last_sent_to)."""
    if recipient_hash is None:
        return None
    for digest, notification_id, sent_at in sent:
        if digest == recipient_hash and sent_at <= at:
            return notification_id
    return None
