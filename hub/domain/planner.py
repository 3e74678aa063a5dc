"""The planner: which notifications a return's new stage produces.

One notification per (return, cycle, stage, channel, recipient): the idempotency key is unique
in the outbox, so a duplicate webhook, a replay or a retried worker plans nothing new.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hub.domain.timing import after_quiet_hours
from hub.events import ReturnState
from hub.recipients import AddressBook, Recipient

#: Stages that are states of a return (the others, an exception or a team review, are not).
_STATES = frozenset(state.value for state in ReturnState)

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.config import NotificationSettings
    from hub.security import PiiCipher


@dataclass(slots=True)
class Contact:
    """A customer's decrypted contact details and preferences, for planning only."""

    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    #: Channel opt-outs, e.g. {"sms": False}.
    preferences: dict[str, bool] = field(default_factory=dict)
    #: Channel addresses the source gave (``customer.attributes``), e.g. a Slack id.
    attributes: dict[str, str] = field(default_factory=dict)

    def recipient(self, customer_key: str | None) -> Recipient:
        """What a channel's address rule may read (:mod:`hub.recipients`)."""
        return Recipient(email=self.email, phone=self.phone, attributes=self.attributes,
                         customer_key=customer_key)


@dataclass(slots=True)
class PlannedNotification:
    """A row for the outbox, or a reason it was not planned."""

    channel: str
    stage: str
    template: str
    row: dict | None = None
    skipped_reason: str | None = None


class Planner:
    """Turns (return, stage, contact) into outbox rows, from ``[notifications.stages]``."""

    def __init__(self, settings: NotificationSettings, cipher: PiiCipher,
                 addresses: AddressBook | None = None) -> None:
        self.settings = settings
        self.cipher = cipher
        #: How each channel finds a recipient's address (its sink's declaration).
        self.addresses = addresses or AddressBook()

    def encrypting_with(self, cipher: PiiCipher) -> Planner:
        """This planner, its recipients encrypted with ``cipher`` (the batch applier's, which
        remembers what it encrypted)."""
        return Planner(self.settings, cipher, self.addresses)

    def channels_for(self, stage: str) -> tuple[list[str], str]:
        """The channels a stage notifies on and its template name."""
        stage_settings = self.settings.stages.get(stage)
        if stage_settings is None:
            return [], stage
        return list(stage_settings.channels), stage_settings.template or stage

    def fallback_withheld(self, stage: str, return_state: str | None) -> str | None:
        """Why a fallback of ``stage`` must not go out now that the return is in
        ``return_state`` (None: it may). A stage that is a state of the return carries news
        of that state: once the return has moved on, that news is out of date (found from
        outside: a bounce of the "received" email texted the customer "we received your
        return" after the refund and the close), and the later stage's own messages, and
        their fallbacks, tell the customer what is current."""
        if stage in _STATES and return_state is not None and return_state != stage:
            return f"the return has moved on to {return_state}"
        return None

    def fallback_after(self, stage: str, channel: str) -> list[str]:
        """The fallback channels to try, in order, after ``channel`` failed for ``stage``."""
        stage_settings = self.settings.stages.get(stage)
        if stage_settings is None:
            return []
        chain = list(stage_settings.fallback)
        return chain[chain.index(channel) + 1:] if channel in chain else chain

    def release_time(self, stage: str, contact: Contact, now: datetime, *,
                     coalesce: bool = True) -> datetime:
        """When a new message of ``stage`` may first be sent: after the coalescing window
        (unless not ``coalesce``) and outside the customer's quiet hours, unless the stage is
        urgent."""
        stage_settings = self.settings.stages.get(stage)
        if stage_settings is not None and stage_settings.urgent:
            return now
        when = now + timedelta(seconds=self.settings.coalesce_seconds if coalesce else 0)
        return after_quiet_hours(when, self.settings.quiet_hours, contact.timezone,
                                 self.settings.default_timezone)

    def plan(self, *, return_id: int, cycle: int, stage: str, contact: Contact,
             customer_key: str | None, inbox_event_id: int | None,
             event_received_at: datetime, now: datetime,
             channels: list[str] | None = None, fallback_of: str | None = None,
             template: str | None = None, suppressed: Callable[[str], bool] | None = None
             ) -> list[PlannedNotification]:
        """The notifications for one stage of one return. ``channels`` and ``template``
        override the stage's own (a fallback, a rule); ``suppressed`` says which channels a
        rule silenced. A fallback (``fallback_of``) is late already: released without the
        coalescing window, though still outside quiet hours."""
        stage_channels, stage_template = self.channels_for(stage)
        template = template or stage_template
        stage_settings = self.settings.stages.get(stage)
        expires_after = stage_settings.expires_after_seconds if stage_settings else None
        release = self.release_time(stage, contact, now, coalesce=fallback_of is None)
        planned = []
        for channel in stage_channels if channels is None else channels:
            if suppressed is not None and suppressed(channel):
                planned.append(PlannedNotification(channel, stage, template,
                                                   skipped_reason="suppressed by a rule"))
                continue
            address = self.addresses.address(channel, contact.recipient(customer_key))
            if not address:
                planned.append(PlannedNotification(channel, stage, template,
                                                   skipped_reason=f"no {channel} address"))
                continue
            if contact.preferences.get(channel) is False:
                planned.append(PlannedNotification(
                    channel, stage, template, skipped_reason=f"customer opted out of {channel}"))
                continue
            recipient_hash = self.cipher.lookup_hash(address)
            planned.append(PlannedNotification(channel, stage, template, row={
                "id": str(uuid.uuid4()),
                "idempotency_key": f"{return_id}:{cycle}:{stage}:{channel}:{recipient_hash}",
                "return_id": return_id,
                "inbox_event_id": inbox_event_id,
                "stage": stage,
                "channel": channel,
                "category": stage_settings.category if stage_settings else "transactional",
                "template": template,
                "locale": contact.locale or self.settings.default_locale,
                "recipient_enc": self.cipher.encrypt(address),
                "recipient_hash": recipient_hash,
                "status": "pending",
                "attempts": 0,
                # Every row names the same columns: an executemany INSERT takes its columns
                # from the first row and would drop a later row's lease.
                "lease_owner": None,
                "lease_until": None,
                "next_attempt_at": release,
                "event_received_at": event_received_at,
                "created_at": now,
                "expires_at": (event_received_at + timedelta(seconds=expires_after)
                               if expires_after else None),
                "tried_providers": [],
                "fallback_of": fallback_of,
                # Every column with a Python-side default named: the batch's INSERT then runs
                # straight on SQLite's connection (hub.store.bulk), not through SQLAlchemy.
                "priority": 0,
            }))
        return planned
