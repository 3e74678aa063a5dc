"""Marketing consent: read and record it (table ``marketing_consents``, one row per change).

Consent for promotions is kept apart from the transactional channel preferences
(``customers.preferences``): a customer who unsubscribes from offers still hears about their
return. Without any row a customer has not consented (opt-in). See docs/consent.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from hub.store.models_consent import CONSENT_CHANNELS, CONSENT_SOURCES, MarketingConsent

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A customer's marketing consent on one channel now (``None`` times: never recorded)."""

    channel: str
    granted: bool
    source: str | None = None
    recorded_at: datetime | None = None
    withdrawn_by_stop: bool = False


async def current(session: AsyncSession, customer_id: int, channel: str) -> ConsentState:
    """The newest consent record of ``customer_id`` on ``channel``; not granted without one."""
    table = MarketingConsent.__table__.c
    row = (await session.execute(
        select(table.granted, table.source, table.recorded_at, table.withdrawn_by_stop)
        .where(table.customer_id == customer_id, table.channel == channel)
        .order_by(table.id.desc()).limit(1))).first()
    if row is None:
        return ConsentState(channel, False)
    return ConsentState(channel, bool(row.granted), row.source, row.recorded_at,
                        bool(row.withdrawn_by_stop))


async def consented(session: AsyncSession, channel: str, customer_ids: Iterable[int]
                    ) -> set[int]:
    """Which of ``customer_ids`` have marketing consent on ``channel`` now: one query per
    1,000 ids, for planning a campaign's audience (the send-time check stays)."""
    table = MarketingConsent.__table__.c
    ids, granted = list(dict.fromkeys(customer_ids)), set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        newest = (select(func.max(table.id)).where(table.channel == channel,
                                                   table.customer_id.in_(chunk))
                  .group_by(table.customer_id))
        granted.update((await session.execute(select(table.customer_id).where(
            table.id.in_(newest), table.granted.is_(True)))).scalars())
    return granted


async def history(session: AsyncSession, customer_id: int) -> list[MarketingConsent]:
    """Every consent change of a customer, oldest first."""
    return list((await session.execute(
        select(MarketingConsent).where(MarketingConsent.customer_id == customer_id)
        .order_by(MarketingConsent.id))).scalars())


async def record(session: AsyncSession, customer_id: int, channel: str, granted: bool,
                 source: str, now: datetime, *, by_stop: bool = False) -> bool:
    """Record a grant or a withdrawal; whether it changed anything.

    A change to the state it is already in adds no row (never recorded counts as withdrawn),
    so a repeated unsubscribe (mail clients repeat requests) is idempotent and the history
    stays readable.
    """
    if channel not in CONSENT_CHANNELS:
        raise ValueError(f"unknown consent channel {channel!r}")
    if source not in CONSENT_SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    state = await current(session, customer_id, channel)
    if state.granted == granted:  # no record at all means not granted (opt-in)
        return False
    session.add(MarketingConsent(customer_id=customer_id, channel=channel, granted=granted,
                                 source=source, recorded_at=now,
                                 withdrawn_by_stop=by_stop and not granted))
    return True


async def follow_keyword(session: AsyncSession, customer_id: int, channel: str,
                         enabled: bool, now: datetime) -> None:
    """A provider-level opt-out or opt-in (an SMS ``STOP`` / ``START``, an email provider's
    unsubscribe) applied to marketing consent.

    An opt-out withdraws it (source ``sms_keyword`` for SMS). An opt-in re-grants only what an
    opt-out of this kind removed: ``START`` after ``STOP`` restores a customer who had
    consented, but never turns a customer who had not into one who has.
    """
    source = "sms_keyword" if channel == "sms" else "unsubscribe"
    state = await current(session, customer_id, channel)
    if not enabled:
        if state.granted:  # nothing to withdraw otherwise, and nothing for START to restore
            await record(session, customer_id, channel, False, source, now, by_stop=True)
        return
    if not state.granted and state.withdrawn_by_stop:
        await record(session, customer_id, channel, True, source, now)


class ConsentBatch:
    """:func:`record` and :func:`follow_keyword` for many customers at once, in memory: the
    states are read beforehand in one query and the new records written afterwards in one
    insert (a batch of provider receipts); later changes in the batch see earlier ones."""

    def __init__(self, states: dict[tuple[int, str], tuple[bool, bool]], now: datetime) -> None:
        #: (customer, channel) → (granted, withdrawn by a STOP); absent: never recorded.
        self.states = dict(states)
        self.now = now
        #: The ``marketing_consents`` rows to insert, in order.
        self.rows: list[dict] = []

    def record(self, customer_id: int, channel: str, granted: bool, source: str, *,
               by_stop: bool = False) -> bool:
        """As :func:`record`."""
        if channel not in CONSENT_CHANNELS:
            raise ValueError(f"unknown consent channel {channel!r}")
        if source not in CONSENT_SOURCES:
            raise ValueError(f"unknown consent source {source!r}")
        if self.states.get((customer_id, channel), (False, False))[0] == granted:
            return False
        stop = by_stop and not granted
        self.states[(customer_id, channel)] = (granted, stop)
        self.rows.append({"customer_id": customer_id, "channel": channel, "granted": granted,
                          "source": source, "recorded_at": self.now,
                          "withdrawn_by_stop": stop})
        return True

    def follow_keyword(self, customer_id: int, channel: str, enabled: bool) -> None:
        """As :func:`follow_keyword`."""
        source = "sms_keyword" if channel == "sms" else "unsubscribe"
        granted, by_stop = self.states.get((customer_id, channel), (False, False))
        if not enabled:
            if granted:
                self.record(customer_id, channel, False, source, by_stop=True)
        elif not granted and by_stop:
            self.record(customer_id, channel, True, source)
