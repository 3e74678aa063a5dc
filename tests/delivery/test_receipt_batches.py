"""A status webhook batch is recorded with a constant number of statements, whatever its size,
with every receipt's effect: statuses moved by rank, timeline entries, engagement counted once
per provider event, repeats (in the batch and across batches) ignored."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from hub.events import ReturnEvent
from hub.messages import DeliveryStatus, StatusUpdate
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import DeliveryReceipt, Notification, TimelineEntry
from hub.store.models_engagement import MessageEngagement
from hub.store.sqlite_driver import InLoopConnection
from hub.testing.factories import event_payload


def _event(return_id: str) -> ReturnEvent:
    return ReturnEvent.model_validate({**event_payload("return.approved", return_id),
                                       "source": "shop", "source_event_id": f"{return_id}-a"})


async def _sent(hub: Hub, count: int) -> list[str]:
    await hub.inbox.submit([_event(f"R-rcpt-{n}") for n in range(count)], utcnow())
    await hub.drain()
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(Notification.id).where(
            Notification.channel == "email", Notification.status == "sent")
            .order_by(Notification.id))).scalars())


def _updates(ids: list[str], tag: str) -> list[StatusUpdate]:
    at = utcnow()
    updates = []
    for n, message_id in enumerate(ids):
        updates += [
            StatusUpdate(DeliveryStatus.DELIVERED, at, message_id=message_id,
                         event_id=f"{tag}-d-{n}"),
            StatusUpdate(DeliveryStatus.OPENED, at + timedelta(seconds=1),
                         message_id=message_id, event_id=f"{tag}-o-{n}"),
            StatusUpdate(DeliveryStatus.OPENED, at + timedelta(seconds=2),
                         message_id=message_id, event_id=f"{tag}-o2-{n}"),
            # A repeat inside the batch, and a later "deferred" that moves nothing back.
            StatusUpdate(DeliveryStatus.OPENED, at + timedelta(seconds=2),
                         message_id=message_id, event_id=f"{tag}-o2-{n}"),
            StatusUpdate(DeliveryStatus.DEFERRED, at + timedelta(seconds=3),
                         message_id=message_id, event_id=f"{tag}-df-{n}")]
    return updates


async def _record(hub: Hub, updates: list[StatusUpdate]) -> tuple[int, int]:
    """(new receipts, statements executed) of one batch."""
    statements = 0

    def count(*_args) -> None:
        nonlocal statements
        statements += 1

    def counted(run: Callable[..., Any]) -> Callable[..., Any]:
        def run_counted(*args: Any) -> Any:
            count()
            return run(*args)
        return run_counted

    # SQLAlchemy's statements, and those a batch runs straight on SQLite's connection
    # (hub.store.bulk), which SQLAlchemy never sees.
    direct = {name: getattr(InLoopConnection, name) for name in ("write_many", "write_returning")}
    sa_event.listen(hub.engine.sync_engine, "before_cursor_execute", count)
    for name, run in direct.items():
        setattr(InLoopConnection, name, counted(run))
    try:
        async with hub.sessionmaker() as session, session.begin():
            new = await hub.receipts.record(session, "outbox", "email", updates, utcnow())
    finally:
        sa_event.remove(hub.engine.sync_engine, "before_cursor_execute", count)
        for name, run in direct.items():
            setattr(InLoopConnection, name, run)
    return new, statements


async def test_a_batch_costs_the_same_statements_whatever_its_size(hub):
    ids = await _sent(hub, 24)
    assert len(ids) == 24
    small_new, small = await _record(hub, _updates(ids[:2], "small"))
    large_new, large = await _record(hub, _updates(ids[2:], "large"))
    assert (small_new, large_new) == (2 * 4, 22 * 4)  # the in-batch repeat is not new
    assert small == large, (small, large)
    assert 3 <= small <= 8
    repeat_new, _ = await _record(hub, _updates(ids[2:], "large"))
    assert repeat_new == 0  # a redelivered batch changes nothing
    async with hub.sessionmaker() as session:
        statuses = set((await session.execute(select(Notification.status).where(
            Notification.id.in_(ids)))).scalars())
        delivered_at = (await session.execute(select(func.count()).where(
            Notification.id.in_(ids), Notification.delivered_at.is_not(None),
            Notification.receipt_due_at.is_(None)))).scalar_one()
        opens = {row.notification_id: (row.events, row.first_at < row.last_at)
                 for row in (await session.execute(select(MessageEngagement))).scalars()}
        moved = (await session.execute(select(func.count()).select_from(TimelineEntry)
                 .where(TimelineEntry.outcome == "delivered"))).scalar_one()
        receipts = (await session.execute(select(func.count()).select_from(
            DeliveryReceipt))).scalar_one()
    assert statuses == {"delivered"}
    assert delivered_at == 24
    assert opens == {message_id: (2, True) for message_id in ids}
    assert moved == 24  # one timeline entry per move; the "deferred" moved nothing
    assert receipts == 24 * 4


async def test_events_the_store_cannot_hold_cost_the_batch_nothing(hub):
    # Found from outside: on PostgreSQL one event naming a message id with a NUL byte (or
    # one longer than its column) failed the whole batch, answered 503 on every retry, and
    # the good receipts beside it were never recorded. SQLite took the same batch.
    [sent] = await _sent(hub, 1)
    at = utcnow()
    updates = [
        StatusUpdate(DeliveryStatus.DEFERRED, at, message_id=sent, event_id="good",
                     reason="451 4.7.1 try\x00later \ud800"),
        StatusUpdate(DeliveryStatus.OPENED, at, message_id="x\x00", event_id="nul-id"),
        StatusUpdate(DeliveryStatus.OPENED, at, provider_message_id="P" * 300,
                     event_id="long-provider-id"),
        StatusUpdate(DeliveryStatus.OPENED, at, message_id=sent, event_id="nul\x00event"),
        # Two events whose ids share their first 300 characters are two events.
        StatusUpdate(DeliveryStatus.OPENED, at, message_id=sent, event_id="Z" * 300 + "1"),
        StatusUpdate(DeliveryStatus.CLICKED, at, message_id=sent, event_id="Z" * 300 + "2"),
    ]
    new, _ = await _record(hub, updates)
    assert new == 4
    async with hub.sessionmaker() as session:
        stored = {row.event_id: row for row in (
            await session.execute(select(DeliveryReceipt))).scalars()}
    assert "good" in stored and stored["good"].notification_id == sent
    assert "\x00" not in (stored["good"].reason or "")
    digests = [key for key in stored if key.startswith("sha256:")]
    assert len(digests) == 3 and len(stored) == 4
    assert all(len(key) <= 255 for key in stored)
    again, _ = await _record(hub, updates)  # the digests are stable: a redelivery is known
    assert again == 0


async def test_updates_a_sink_got_wrong_are_skipped_not_a_failed_batch(hub):
    # Found from outside by a plugin author: a parse_status giving a plain-string status, a
    # naive time or a dict failed the whole batch, answered 503 on every redelivery.
    [sent] = await _sent(hub, 1)
    at = utcnow()
    updates = [
        StatusUpdate("delivered", at, message_id=sent, event_id="plain-string"),
        StatusUpdate(DeliveryStatus.OPENED, at.replace(tzinfo=None), message_id=sent,
                     event_id="naive"),
        StatusUpdate("nonsense", at, message_id=sent, event_id="nonsense"),
        StatusUpdate(["opened"], at, message_id=sent, event_id="a-list"),
        {"status": "delivered", "message_id": sent},
        StatusUpdate(DeliveryStatus.OPENED, at, message_id=sent, event_id=["x"]),
        # What is clearly meant is taken: a numeric event id, no reason, a raw event that
        # is no JSON (recorded without it).
        StatusUpdate(DeliveryStatus.OPENED, at, message_id=sent, event_id=7, reason=None),
        StatusUpdate(DeliveryStatus.CLICKED, at, message_id=sent, event_id="raw",
                     raw={"when": object()}),
    ]
    new, _ = await _record(hub, updates)
    async with hub.sessionmaker() as session:
        stored = {row.event_id: row for row in (
            await session.execute(select(DeliveryReceipt))).scalars()}
        status = (await session.execute(select(Notification.status).where(
            Notification.id == sent))).scalar_one()
    assert (new, sorted(stored), status) == (3, ["7", "plain-string", "raw"], "delivered")
    assert stored["raw"].raw_enc is None
