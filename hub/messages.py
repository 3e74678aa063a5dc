"""What the dispatcher hands a sink, and what sinks report back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(slots=True)
class OutboundMessage:
    """One rendered message for one recipient on one channel.

    ``message_id`` is the hub's own notification id: sinks pass it to the provider where the
    provider echoes it back (SendGrid custom_args, Mandrill metadata, the Twilio status callback
    URL) so that status webhooks and reconciliation find the notification again.
    """

    message_id: str
    channel: str
    to: str
    subject: str | None = None
    text: str = ""
    html: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    #: Non-PII labels (return reference, stage) the provider may store and echo.
    metadata: dict[str, str] = field(default_factory=dict)
    #: Where the provider should post delivery receipts for this message, if it supports it.
    status_callback_url: str | None = None
    #: Name of the stage template, for providers' categories / tags.
    template: str | None = None
    #: transactional | promotional | internal (hub.categories); sinks may pick a bulk path.
    category: str = "transactional"
    #: Extra email headers the sink must send as given (promotional mail: RFC 8058
    #: ``List-Unsubscribe`` and ``List-Unsubscribe-Post``). Values never hold line breaks.
    headers: dict[str, str] = field(default_factory=dict)
    #: For ``Sink.reconcile``: when the call that may have handed this message over started
    #: (the hub's clock); the provider cannot have it from before. None: not known.
    sent_after: datetime | None = None


@dataclass(slots=True)
class SendResult:
    """A provider accepted the message. ``provider_message_id`` is the provider's own id."""

    provider_message_id: str | None = None
    #: "accepted" (queued by the provider) or "delivered" (the sink knows it arrived).
    status: str = "accepted"
    detail: str = ""


class DeliveryStatus(StrEnum):
    """What a provider's status webhook says happened to a message."""

    ACCEPTED = "accepted"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    #: The customer opted back in (an SMS "START"): the channel preference is turned on again.
    RESUBSCRIBED = "resubscribed"
    #: From ``Sink.reconcile`` only: the provider has no such message (it was never accepted),
    #: so sending it is safe.
    NOT_FOUND = "not_found"
    OPENED = "opened"
    CLICKED = "clicked"


@dataclass(slots=True)
class StatusUpdate:
    """One normalized event from a provider's delivery webhook.

    Either ``message_id`` (ours, echoed back) or ``provider_message_id`` must be set.
    ``event_id`` dedupes repeated deliveries of the same event; ``raw`` keeps the provider's
    event beside the normalized fields.
    """

    status: DeliveryStatus
    occurred_at: datetime
    message_id: str | None = None
    provider_message_id: str | None = None
    event_id: str | None = None
    reason: str = ""
    #: The address the event concerns, when the provider says (e.g. the sender of an SMS
    #: "STOP"); used for preference changes, never logged.
    recipient: str | None = None
    raw: Any = None
