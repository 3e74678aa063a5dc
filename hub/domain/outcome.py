"""What one send's result does to its notification: a pure decision, no storage.

:func:`decide` takes the notification as claimed, how the send fared (a
:class:`hub.delivery.router.RouteResult` or anything shaped like it), the status the row has
now (a provider's receipt may have been recorded meanwhile) and the channel's timings, and
returns the columns to write and whether the stage failed for good on this channel, so that
its fallback channel is planned.

- ``sent``: sent now; a receipt deadline when the provider confirms by webhook (passed without
  a receipt, the message fails over to the providers not yet tried).
- ``unknown``: the provider may have sent it; asked again after the reconcile window.
- ``retry``: backoff with full jitter (Retry-After a floor); ``dead`` after
  ``max_attempts``, ``expired`` when the next try would come after the notification expires.
- anything else (``failed``, ``dead``, ``skipped``, ``expired``, ``superseded``): final.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from hub.domain.retry import backoff_delay

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Notification statuses after which the stage has not reached the customer on that channel.
FAILED_FOR_GOOD = frozenset({"failed", "dead", "bounced"})

#: How far along each notification status is: nothing moves a notification to a lower rank.
STATUS_RANK = {"pending": 0, "sending": 0, "unknown": 0, "sent": 1, "delivered": 3,
               "bounced": 4, "failed": 4, "dead": 4, "skipped": 4, "expired": 4,
               "superseded": 4}

#: Seconds before an unknown outcome is reconciled when its channel has no route.
DEFAULT_RECONCILE_SECONDS = 300


#: The attempt outcome of a provider's "too many requests" (429, or its SDK's equivalent).
RATE_LIMITED = "rate_limited"


class Sent(Protocol):
    """The notification columns a decision reads."""

    attempts: int
    provider: str | None
    provider_message_id: str | None
    tried_providers: list[str] | None
    expires_at: datetime | None


class SendResult(Protocol):
    """How a send fared (see :class:`hub.delivery.router.RouteResult`)."""

    status: str
    provider: str | None
    provider_message_id: str | None
    retry_after: float | None
    error: str | None
    attempts: Sequence[Any]
    counts_as_attempt: bool
    reconcile_in: float | None

    @property
    def tried(self) -> list[str]:
        """The providers called, in order."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try again (``worker.max_attempts``, ``retry_base_seconds``,
    ``retry_max_seconds``)."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float


@dataclass(frozen=True, slots=True)
class Timing:
    """The channel's waits for this send: ``receipt_deadline_seconds`` only when the provider
    that accepted it reports by webhook and the channel sets a deadline."""

    receipt_deadline_seconds: float | None = None
    reconcile_seconds: float = DEFAULT_RECONCILE_SECONDS


_NO_TIMING = Timing()


@dataclass(frozen=True, slots=True)
class Decision:
    """The columns to write, the status the send itself reached (for the timeline), and
    whether the stage failed for good on this channel (plan the fallback channel)."""

    values: dict[str, Any]
    reported: str
    plan_fallback: bool


def decide(notification: Sent, result: SendResult, now: datetime, *, current: str,
           policy: RetryPolicy, timing: Timing | None = None,
           rng: random.Random | None = None) -> Decision:
    """What ``result`` does to ``notification``, whose row now has status ``current``."""
    values = next_values(notification, result, now, policy=policy, timing=timing, rng=rng)
    kept, reported = after_receipts(values, current)
    return Decision(kept, reported,
                    plan_fallback=kept["status"] == reported and reported in FAILED_FOR_GOOD)


def next_values(notification: Sent, result: SendResult, now: datetime, *, policy: RetryPolicy,
                timing: Timing | None = None, rng: random.Random | None = None
                ) -> dict[str, Any]:
    """The notification's next columns after ``result``, ignoring receipts (see
    :func:`after_receipts`). The lease is released in every case."""
    timing = timing or _NO_TIMING
    attempts = notification.attempts + (1 if counts_as_attempt(result) else 0)
    values: dict[str, Any] = {
        "attempts": attempts, "lease_owner": None, "lease_until": None,
        "last_error": result.error, "provider": result.provider or notification.provider,
        "tried_providers": [*(notification.tried_providers or []), *result.tried]}
    if result.status == "sent":
        values.update(status="sent", sent_at=now, receipt_due_at=None,
                      provider_message_id=result.provider_message_id
                      or notification.provider_message_id)
        if timing.receipt_deadline_seconds:
            values["receipt_due_at"] = now + timedelta(seconds=timing.receipt_deadline_seconds)
    elif result.status == "unknown":  # the send intent stays: the reconcile reads it
        wait = result.reconcile_in if result.reconcile_in is not None else (
            timing.reconcile_seconds)
        values.update(status="unknown", next_attempt_at=now + timedelta(seconds=wait))
    elif result.status == "retry":
        delay = backoff_delay(max(attempts, 1), base=policy.base_seconds,
                              cap=policy.cap_seconds, retry_after=result.retry_after, rng=rng)
        next_at = now + timedelta(seconds=delay)
        if attempts >= policy.max_attempts:
            values.update(status="dead")
        elif notification.expires_at is not None and next_at > notification.expires_at:
            values.update(status="expired", last_error="expires before the next retry")
        else:
            values.update(status="pending", next_attempt_at=next_at)
    else:
        values.update(status=result.status)
    if values["status"] not in ("sent", "unknown"):  # no call of this one is outstanding
        values.update(send_started_at=None, send_provider=None)
    return values


def counts_as_attempt(result: SendResult) -> bool:
    """Whether ``result`` uses up one of ``worker.max_attempts``: a provider was called and
    did not only say it was too busy (a 429 means the request was not processed: throttled
    for two minutes, every text ended a dead letter; found from outside), or the try failed
    before any call in a way that counts (a render over its time limit). A message throttled
    for good waits at the provider's pace, visible as the oldest pending notification."""
    return result.counts_as_attempt or any(
        attempt.outcome != RATE_LIMITED for attempt in result.attempts)


def after_receipts(values: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
    """The values to write, and the status the send itself reached.

    The provider's status webhook can arrive before the send's outcome is written (it
    delivered within the group-commit window): a ``delivered`` or ``bounced`` the receipt
    already recorded stays, and no receipt deadline is set that would fail the message over
    to a second provider. The attempt, the provider and the lease release are written as
    usual."""
    reported = values["status"]
    if STATUS_RANK.get(current, 0) <= STATUS_RANK.get(reported, 0):
        return values, reported
    kept = {key: value for key, value in values.items()
            if key not in ("receipt_due_at", "next_attempt_at", "last_error")}
    return {**kept, "status": current}, reported
