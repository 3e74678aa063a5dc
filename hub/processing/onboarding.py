"""What a polled source's history becomes when the hub first connects to it.

Without this, the first poll of an ERP (no saved cursor) imported its whole history as news and
a refund from years ago was emailed and texted. A change is *history* when it occurred before
the hub first polled the source (``source_cursors.started_at``) or came in that first pass.
``start = "now"`` (the default) drops history, so the next change is the first one applied;
``start = "backfill"`` imports it, up to ``backfill_max_age_days`` old, marked
``extra.backfill`` so that it lands on the timeline without messages
(:func:`hub.notifiable.notice_verdict`) and without rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from hub.notifiable import BACKFILL_KEY

if TYPE_CHECKING:
    from datetime import datetime

    from hub.events import ReturnEvent
    from hub.notifiable import OnboardingSettings


@dataclass(slots=True)
class HistoryFilter:
    """One polling pass's view of the source's history. Pure."""

    policy: OnboardingSettings
    #: When the hub first polled the source (None: onboarded before this existed).
    started_at: datetime | None
    #: Whether this is the source's first pass (no cursor yet, row created by this pass).
    first_pass: bool
    now: datetime

    def is_history(self, event: ReturnEvent) -> bool:
        """Whether ``event`` is a change from before the source was connected."""
        if self.first_pass:
            return True
        return self.started_at is not None and event.occurred_at < self.started_at

    def admit(self, event: ReturnEvent) -> ReturnEvent | None:
        """``event`` as it goes to the inbox: unchanged when it is news, marked as backfill
        when it is history to import, None when it is history to skip."""
        if not self.is_history(event):
            return event
        if self.policy.start == "now":
            return None
        max_age = self.policy.backfill_max_age_days
        if max_age is not None and event.occurred_at < self.now - timedelta(days=max_age):
            return None
        return event.model_copy(update={"extra": {**event.extra, BACKFILL_KEY: True}})
