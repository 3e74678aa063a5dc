"""Whether an event may notify anyone: the one decision the pipeline and the dry run share.

An event is recorded on its return's timeline whatever this says; only messages are withheld:

- history imported by a backfill (``extra.backfill``) is silent unless its source sets
  ``notify_backfill = true``;
- a *stale* event, one that occurred long before it reached the hub (a carrier replaying old
  scans, a store connected late, a webhook retried for days), notifies nobody: each stage has
  a most useful age (``[notifications.stale_after_days]``; a refund notice is stale after
  7 days, a label after 2).

:func:`notice_verdict` is pure; :class:`NoticeGate` reads the settings it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from hub.events import ReturnEvent

#: Days after which a stage's message is no longer worth sending, by stage. 0: never stale.
DEFAULT_STALE_AFTER_DAYS: dict[str, float] = {
    "requested": 3, "pending_review": 3, "approved": 3, "declined": 3, "cancelled": 3,
    "label_created": 2, "in_transit": 2, "shipment_exception": 2,
    "delivered_to_warehouse": 3, "received": 7, "inspected": 7, "restocked": 7,
    "refunded": 7, "exchange_shipped": 7, "closed": 7, "expired": 7,
}
#: Stages not listed (a custom stage, ``team_review``): stale after this many days.
FALLBACK_STALE_AFTER_DAYS = 7.0
#: The ``extra`` key a poller sets on history it imports during a backfill.
BACKFILL_KEY = "backfill"


class StalenessSettings(BaseModel):
    """Per-stage staleness, part of ``[notifications]``."""

    model_config = ConfigDict(extra="forbid")

    stale_after_days: dict[str, float] = Field(
        default_factory=dict, description="Stage → days: an event that occurred longer than "
        "this before the hub received it is recorded but notifies nobody (0: never stale). "
        "Merged over the defaults (refunded 7, label_created 2, ...; docs/configuration.md).")

    @field_validator("stale_after_days")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        wrong = sorted(stage for stage, days in value.items() if days < 0)
        if wrong:
            raise ValueError(f"days must be 0 (never stale) or more ({', '.join(wrong)})")
        return value

    def stale_after(self, stage: str) -> timedelta | None:
        """How old an event of ``stage`` may be and still notify (None: any age)."""
        return _age_limits(self.stale_after_days).get(stage, _FALLBACK)


def _age_limits(configured: Mapping[str, float]) -> dict[str, timedelta | None]:
    return {stage: timedelta(days=days) if days > 0 else None
            for stage, days in {**DEFAULT_STALE_AFTER_DAYS, **configured}.items()}


_FALLBACK = timedelta(days=FALLBACK_STALE_AFTER_DAYS)


class OnboardingSettings(BaseModel):
    """How a source joins the hub, part of ``[sources.<name>]`` (read by the core)."""

    model_config = ConfigDict(extra="forbid")

    start: Literal["now", "backfill"] = Field(
        "now", description="A polled source's first poll: `now` skips its history (the next "
        "change notifies); `backfill` imports it onto the timeline.")
    backfill_max_age_days: float | None = Field(
        None, gt=0, description="With `start = \"backfill\"`: import only history this recent "
        "(unset: all of it).")
    notify_backfill: bool = Field(
        False, description="Send the messages of backfilled history (still subject to "
        "`notifications.stale_after_days`). Default: timeline only.")
    customer_reference: Literal["source", "return_name", "order_name", "rma"] = Field(
        "source", description="What messages and the portal call a return: `source` (what the "
        "connector gives: Shopify's return name, the ERP's RMA number), `return_name`, "
        "`order_name` (the order number customers see) or `rma` (the return id).")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an event's stage may notify, and why not."""

    notify: bool
    reason: str | None = None


NOTIFY = Verdict(notify=True)


def notice_verdict(*, stage: str, occurred_at: datetime, received_at: datetime,
                   backfill: bool, notify_backfill: bool,
                   stale_after: timedelta | None) -> Verdict:
    """Whether an event that reached ``stage`` may notify. Pure."""
    if backfill and not notify_backfill:
        return Verdict(False, "backfilled history: recorded without messages")
    age = received_at - occurred_at
    if stale_after is not None and age > stale_after:
        return Verdict(False, f"stale: occurred {_days(age)} before it arrived ({stage} "
                              f"messages are not sent after {_days(stale_after)})")
    return NOTIFY


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.0f} days" if days >= 1 else f"{delta.total_seconds() / 3600:.0f} hours"


def is_backfill(event: ReturnEvent) -> bool:
    """Whether ``event`` is history a backfill imported."""
    return (event.extra or {}).get(BACKFILL_KEY) is True


class NoticeGate:
    """:func:`notice_verdict` with the settings it needs: per-stage staleness and each
    source's onboarding policy (sources without one get the defaults)."""

    def __init__(self, staleness: StalenessSettings,
                 sources: Mapping[str, OnboardingSettings] | None = None) -> None:
        self.staleness = staleness
        self.sources = dict(sources or {})
        self._default = OnboardingSettings()
        self._limits = _age_limits(staleness.stale_after_days)  # per event: build once

    def policy(self, source: str) -> OnboardingSettings:
        """The onboarding policy of ``source``."""
        return self.sources.get(source, self._default)

    def verdict(self, event: ReturnEvent, stage: str, received_at: datetime) -> Verdict:
        """Whether ``event``, received at ``received_at``, may notify for ``stage``."""
        return notice_verdict(
            stage=stage, occurred_at=event.occurred_at, received_at=received_at,
            backfill=is_backfill(event), notify_backfill=self.policy(event.source).notify_backfill,
            stale_after=self._limits.get(stage, _FALLBACK))
