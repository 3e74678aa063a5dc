"""The applier on batches of several events at once: one row per return and customer however
the batch finds it, ids for new rows, parking, dead letters and the per-event fallback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from hub.events import ReturnEvent
from hub.store.batch_rows import RowState
from hub.store.engine import utcnow
from hub.store.models import Customer, InboxEvent, Notification, Return, TimelineEntry
from hub.testing.factories import customer, event_payload


def event(payload: dict) -> ReturnEvent:
    return ReturnEvent.model_validate({**payload, "source": "shop",
                                       "source_event_id": f"evt-{uuid.uuid4().hex}"})


async def apply_together(hub, *payloads: dict) -> None:
    """Store the events in one request, so that one claim takes them all as one batch."""
    await hub.inbox.submit([event(p) for p in payloads], utcnow())
    await hub.processor.drain()


async def rows(hub, model, *order_by) -> list:
    async with hub.sessionmaker() as session:
        return list((await session.execute(
            select(model).order_by(*(order_by or (model.id,))))).scalars())


async def test_one_return_found_by_id_and_by_tracking_number_is_one_row(hub):
    await apply_together(hub, event_payload(
        "return.label_created", "R-both", minutes=1,
        tracking={"number": "1Z-BOTH", "carrier": "UPS"}))
    # The carrier scan finds the return by its tracking number, the platform's event by its id.
    await apply_together(
        hub,
        {"type": "return.in_transit", "tracking": {"number": "1Z-BOTH"},
         "occurred_at": "2026-11-24T11:00:00Z"},
        event_payload("return.delivered_to_warehouse", "R-both", minutes=120,
                      tracking={"number": "1Z-BOTH", "carrier": "UPS"}))
    [ret] = await rows(hub, Return)
    assert ret.state == "delivered_to_warehouse"
    moves = [(t.return_id, t.outcome, t.from_state) for t in await rows(hub, TimelineEntry)
             if t.kind == "event"]
    assert moves == [(ret.id, "moved", None), (ret.id, "moved", "label_created"),
                     (ret.id, "moved", "in_transit")]


async def test_new_returns_and_customers_of_one_batch_get_their_own_ids(hub):
    shared = customer(901)
    email_only = {"email": "no-id@example.com", "name": "No Id"}
    await apply_together(
        hub,
        event_payload("return.approved", "R-a", customer=shared),
        event_payload("return.approved", "R-b", customer=email_only),
        event_payload("return.approved", "R-c", customer=shared),
        event_payload("return.approved", "R-d", customer=customer(902)))
    customers = {c.id: hub.cipher.decrypt(c.email_enc) for c in await rows(hub, Customer)}
    assert sorted(customers.values()) == sorted(
        [shared["email"], "no-id@example.com", customer(902)["email"]])
    owner = {r.external_id: customers[r.customer_id] for r in await rows(hub, Return)}
    assert owner == {"R-a": shared["email"], "R-b": "no-id@example.com",
                     "R-c": shared["email"], "R-d": customer(902)["email"]}
    emails = {(n.return_id, hub.cipher.decrypt(n.recipient_enc))
              for n in await rows(hub, Notification) if n.channel == "email"}
    ids = {r.external_id: r.id for r in await rows(hub, Return)}
    assert emails == {(ids[ref], email) for ref, email in owner.items()}


async def test_a_customer_changed_by_an_earlier_event_of_the_batch_is_notified_there(hub):
    first = customer(903)
    await apply_together(hub, event_payload("return.requested", "R-move", minutes=1,
                                            customer=first))
    moved = {**first, "email": "moved@example.com", "phone": "+14155550999"}
    await apply_together(
        hub,
        event_payload("return.pending_review", "R-move", minutes=2, customer=moved),
        event_payload("return.approved", "R-move", minutes=3, customer={"id": first["id"]}))
    [row] = await rows(hub, Customer)
    assert hub.cipher.decrypt(row.email_enc) == "moved@example.com"
    assert row.email_hash == hub.cipher.lookup_hash("moved@example.com")
    assert hub.cipher.decrypt(row.name_enc) == first["name"]
    approved = {n.channel: hub.cipher.decrypt(n.recipient_enc)
                for n in await rows(hub, Notification) if n.stage == "approved"}
    assert approved == {"email": "moved@example.com", "sms": "+14155550999"}


async def test_a_scan_parked_by_its_batch_is_released_by_a_later_event_of_it(hub):
    await apply_together(
        hub,
        {"type": "return.in_transit", "tracking": {"number": "1Z-SAME"},
         "occurred_at": "2026-11-24T12:00:00Z"},
        event_payload("return.label_created", "R-same", minutes=5,
                      tracking={"number": "1Z-SAME", "carrier": "UPS"}))
    statuses = {i.status for i in await rows(hub, InboxEvent)}
    assert statuses == {"done"}  # the released scan was claimed and applied by the drain
    [ret] = await rows(hub, Return)
    assert (ret.state, ret.tracking_number, ret.carrier) == ("in_transit", "1Z-SAME", "UPS")


async def test_events_naming_no_return_are_dead_letters_with_the_reason(hub):
    await apply_together(
        hub,
        {"type": "return.in_transit", "occurred_at": "2026-11-24T12:00:00Z"},
        event_payload("return.approved", "R-fine"),
        {"type": "return.received", "occurred_at": "2026-11-24T12:05:00Z"})
    inbox = await rows(hub, InboxEvent)
    assert [i.status for i in inbox] == ["failed", "done", "failed"]
    assert all("names no return" in inbox[n].last_error for n in (0, 2))
    assert all(i.lease_owner is None and i.lease_until is None for i in inbox)


async def test_a_failing_event_is_retried_alone_and_the_rest_of_its_batch_applies(hub):
    planner = hub.processor.applier.planner  # the applier's own (it remembers recipients)
    plan = planner.plan

    def failing_plan(**kwargs):
        if kwargs["return_id"] == poison_id[0]:
            raise RuntimeError("template store down")
        return plan(**kwargs)

    await apply_together(hub, event_payload("return.requested", "R-poison", minutes=1))
    poison_id = [(await rows(hub, Return))[0].id]
    planner.plan = failing_plan
    try:
        await apply_together(
            hub,
            event_payload("return.approved", "R-ok-1", minutes=2),
            event_payload("return.approved", "R-poison", minutes=3),
            event_payload("return.approved", "R-ok-2", minutes=4))
    finally:
        planner.plan = plan
    states = {r.external_id: r.state for r in await rows(hub, Return)}
    assert states == {"R-poison": "requested", "R-ok-1": "approved", "R-ok-2": "approved"}
    inbox = await rows(hub, InboxEvent)
    assert [i.status for i in inbox] == ["done", "done", "pending", "done"]
    assert inbox[2].attempts >= 1 and "template store down" in inbox[2].last_error
    assert [i.attempts for i in inbox if i.status == "done"] == [0, 0, 0]


def test_a_row_writes_back_only_the_columns_that_changed():
    now = datetime(2026, 11, 24, tzinfo=UTC)
    row = RowState({"id": 7, "state": "approved", "cycle": 0, "updated_at": now})
    assert not row.is_new and row.changes() == {}
    row.state, row.cycle = "approved", 1
    assert row.changes() == {"cycle": 1}
    row.mark_saved()
    assert row.changes() == {}
    new = RowState({"id": None, "state": "requested"}, new=True)
    assert new.is_new and new.insert_values() == {"state": "requested"}


async def test_a_batch_decides_each_event_as_it_would_alone(hub):
    # Each event is decided with the return and customer as they stand after it: the event's
    # timeline entry names the state it reached and its messages the contact known by then,
    # not what a later event of the same batch brought (as when the batch is retried event by
    # event after a poison event).
    await apply_together(
        hub,
        event_payload("return.approved", "R-alone", minutes=1, customer={"id": "C-alone"}),
        event_payload("return.label_created", "R-alone", minutes=2,
                      customer={"id": "C-alone", "email": "alone@example.com"}))
    entries = [(t.event_type, t.to_state) for t in await rows(hub, TimelineEntry)
               if t.kind == "event"]
    assert entries == [("return.approved", "approved"),
                       ("return.label_created", "label_created")]
    skipped = {(t.detail["stage"], t.detail["channel"]) for t in await rows(hub, TimelineEntry)
               if t.kind == "notification" and t.outcome == "skipped"}
    assert skipped == {("approved", "email"), ("approved", "sms")}
    assert [(n.stage, n.channel) for n in await rows(hub, Notification)] == [
        ("label_created", "email")]
