"""The statements of recording a batch of provider status receipts (hub/delivery/receipts.py).

Core statements only, each for the whole batch: a status webhook of N updates reads and writes
with a constant number of statements, whatever N is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update

from hub.store.batch_rows import fetch_locked, insert_ignoring
from hub.store.bulk import execute_many, execute_returning
from hub.store.direct_reads import in_list
from hub.store.models import (
    Customer,
    DeliveryReceipt,
    Notification,
    Return,
    TimelineEntry,
    UtcDateTime,
)
from hub.store.models_consent import MarketingConsent
from hub.store.models_engagement import MessageEngagement

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(slots=True)
class Target:
    """A notification a receipt may name: the columns receipts read and move."""

    id: str
    provider: str | None
    provider_message_id: str | None
    status: str
    channel: str
    stage: str
    return_id: int
    inbox_event_id: int | None
    event_received_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    receipt_due_at: datetime | None
    sent_at: datetime | None
    #: None once the customer was erased: receipts then keep none of the provider's event.
    recipient_enc: bytes | None


_TARGET_COLUMNS = [Notification.__table__.c[name] for name in Target.__slots__]
_TARGETS = select(*_TARGET_COLUMNS).where(or_(
    Notification.__table__.c.id.in_(bindparam("ids", expanding=True)),
    and_(Notification.__table__.c.provider.in_(bindparam("providers", expanding=True)),
         Notification.__table__.c.provider_message_id.in_(
             bindparam("provider_ids", expanding=True))))).order_by(Notification.__table__.c.id)
#: The moved notifications' columns, by id (executemany).
_UPDATE_NOTIFICATION = update(Notification.__table__).where(
    Notification.__table__.c.id == bindparam("b_id"))


async def lock_targets(session: AsyncSession, providers: Iterable[str], ids: set[str],
                       provider_ids: set[str]) -> list[Target]:
    """Load (and on PostgreSQL lock) every notification the batch may name, in id order: the
    order a worker's outcome writer locks them in (locking them in the provider's order
    deadlocked against it)."""
    if not ids and not provider_ids:
        return []
    rows = await fetch_locked(session, _TARGETS, {
        "ids": in_list(sorted(ids)), "providers": in_list(sorted(providers)),
        "provider_ids": in_list(sorted(provider_ids))})
    return [Target(*row) for row in rows]


async def insert_receipts(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Insert receipts (one provider's, distinct event ids); the event ids that were new (a
    provider's repeat of a receipt already stored inserts nothing)."""
    if not rows:
        return set()
    # On SQLite it runs straight on the connection (hub.store.bulk), elsewhere SQLAlchemy
    # pages it under the driver's parameter limit.
    statement = insert_ignoring(session, DeliveryReceipt.__table__, "provider", "event_id",
                                returning=("event_id",))
    return {found[0] for found in await execute_returning(session, statement, rows)}


async def last_sent_to(session: AsyncSession, provider: str, channel: str,
                       hashes: set[str], until: datetime) -> list[tuple[str, str, datetime]]:
    """(recipient hash, notification id, sent at) of what ``provider`` sent ``hashes`` on
    ``channel`` up to ``until``, newest first: a reply counts for the last one before it."""
    if not hashes:
        return []
    table = Notification.__table__.c
    rows = await session.execute(
        select(table.recipient_hash, table.id, table.sent_at).where(
            table.recipient_hash.in_(hashes), table.channel == channel,
            table.provider == provider, table.sent_at <= until)
        .order_by(table.sent_at.desc()))
    return [tuple(row) for row in rows]


async def customers_of_returns(session: AsyncSession, return_ids: set[int]) -> dict[int, int]:
    """Return id → customer id (returns without a customer are left out)."""
    if not return_ids:
        return {}
    table = Return.__table__.c
    rows = await session.execute(select(table.id, table.customer_id).where(
        table.id.in_(return_ids), table.customer_id.is_not(None)))
    return {row.id: row.customer_id for row in rows}


async def customers_by_hash(session: AsyncSession, channel: str, hashes: set[str]
                            ) -> list[tuple[int, str, dict]]:
    """(customer id, address hash, preferences) of every customer with one of ``hashes`` as
    their phone (``sms``) or email address."""
    if not hashes:
        return []
    table = Customer.__table__.c
    column = table.phone_hash if channel == "sms" else table.email_hash
    rows = await session.execute(select(table.id, column, table.preferences)
                                 .where(column.in_(hashes)).order_by(table.id))
    return [(row[0], row[1], dict(row[2] or {})) for row in rows]


async def consent_states(session: AsyncSession, customer_ids: set[int],
                         channels: set[str]) -> dict[tuple[int, str], tuple[bool, bool]]:
    """(customer, channel) → (granted, withdrawn by a STOP) of the newest consent records;
    pairs never recorded are left out (not granted)."""
    if not customer_ids or not channels:
        return {}
    table = MarketingConsent.__table__.c
    newest = (select(func.max(table.id)).where(table.customer_id.in_(customer_ids),
                                               table.channel.in_(channels))
              .group_by(table.customer_id, table.channel))
    rows = await session.execute(select(table.customer_id, table.channel, table.granted,
                                        table.withdrawn_by_stop).where(table.id.in_(newest)))
    return {(row.customer_id, row.channel): (bool(row.granted), bool(row.withdrawn_by_stop))
            for row in rows}


async def write_targets(session: AsyncSession, targets: Iterable[Target]) -> None:
    """Write the moved notifications' status, times, error and provider (one executemany)."""
    params = [{"b_id": t.id, "status": t.status, "receipt_due_at": t.receipt_due_at,
               "delivered_at": t.delivered_at, "last_error": t.last_error,
               "sent_at": t.sent_at, "provider": t.provider,
               "provider_message_id": t.provider_message_id} for t in targets]
    if params:
        await execute_many(session, _UPDATE_NOTIFICATION, params)


@cache
def _insert_into(table: Any) -> Any:
    """``INSERT INTO <table>``, made once per model."""
    return table.__table__.insert()


async def insert_rows(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (the same keys each) into ``table`` in one statement, if any."""
    if rows:
        await execute_many(session, _insert_into(table), rows)


async def timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add timeline entries."""
    await insert_rows(session, TimelineEntry, rows)


async def consents(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add marketing consent records."""
    await insert_rows(session, MarketingConsent, rows)


async def write_preferences(session: AsyncSession, rows: list[tuple[int, dict]],
                            now: datetime) -> None:
    """Set customers' channel preferences (one executemany)."""
    if rows:
        table = Customer.__table__
        await session.execute(update(table).where(table.c.id == bindparam("b_id")),
                              [{"b_id": cid, "preferences": prefs, "updated_at": now}
                               for cid, prefs in rows])


async def add_engagement(session: AsyncSession, provider: str,
                         tally: dict[tuple[str, str], tuple[int, datetime, datetime]]) -> None:
    """Count engagement: ``tally`` maps (notification id, kind) to (events, first, last).
    New pairs are inserted; the others' counts and times move in one statement each, so
    concurrent webhook batches about one message never lose a count."""
    if not tally:
        return
    table = MessageEngagement.__table__
    statement = insert_ignoring(session, table, "notification_id", "kind",
                                returning=("notification_id", "kind"))
    inserted: set[tuple[str, str]] = set(map(tuple, await execute_returning(session, statement, [
        {"notification_id": nid, "kind": kind, "provider": provider, "first_at": first,
         "last_at": last, "events": events}
        for (nid, kind), (events, first, last) in tally.items()])))
    rest = [{"b_nid": nid, "b_kind": kind, "b_events": events, "b_first": first,
             "b_last": last}
            for (nid, kind), (events, first, last) in tally.items()
            if (nid, kind) not in inserted]
    if rest:
        c = table.c
        first_at = bindparam("b_first", type_=UtcDateTime())
        last_at = bindparam("b_last", type_=UtcDateTime())
        await session.execute(
            update(table).where(c.notification_id == bindparam("b_nid"),
                                c.kind == bindparam("b_kind"))
            .values(events=c.events + bindparam("b_events"),
                    first_at=case((c.first_at > first_at, first_at), else_=c.first_at),
                    last_at=case((c.last_at < last_at, last_at), else_=c.last_at)), rest)
