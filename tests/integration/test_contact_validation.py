"""A customer's email or phone that breaks the shared rules (hub/contact.py, the rules the
email and SMS sinks use) is refused at ingress naming the field, and never overwrites a good
stored contact (an event can still carry one: enrichment runs after ingress, and older inbox
rows were accepted before the rule)."""

from __future__ import annotations

import json

from sqlalchemy import insert, select

from hub.events import ReturnEvent
from hub.store.engine import utcnow
from hub.store.models import Customer, InboxEvent
from hub.testing.factories import customer, event_payload
from tests.conftest import signed_headers


async def test_a_line_break_in_the_email_or_a_malformed_phone_is_a_422_naming_the_field(
        client, hub):
    for field, value in (("email", "ann@example.com\r\nBcc: all@example.com"),
                         ("email", "ann at example dot com"),
                         ("phone", "+1 415 CALL NOW"), ("phone", "+1")):
        body = json.dumps(event_payload("return.approved", "CV-1",
                                        customer=customer(1, **{field: value}))).encode()
        response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
        error = (await response.json())["error"]
        assert response.status == 422, value
        assert error["field"] == f"customer.{field}"
        assert value not in error["message"]
    async with hub.sessionmaker() as session:
        assert (await session.execute(select(InboxEvent))).first() is None


async def test_a_bad_contact_in_an_event_never_replaces_a_stored_good_one(hub):
    good = customer(7)
    await hub.inbox.submit([ReturnEvent.model_validate({
        **event_payload("return.requested", "CV-7", customer=good),
        "source": "shop", "source_event_id": "cv-good"})], utcnow())
    await hub.processor.drain()
    # As an enriched event or an inbox row from before the rule: straight into the inbox.
    bad = ReturnEvent.model_validate({
        **event_payload("return.approved", "CV-7", minutes=10_000,
                        customer={**good, "email": "evil@example.com\nBcc: x@example.com",
                                  "phone": "+1 415 CALL NOW", "name": "New Name"}),
        "source": "shop", "source_event_id": "cv-bad"})
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(insert(InboxEvent), hub.inbox.rows_for([bad], utcnow()))
    await hub.processor.drain()
    async with hub.sessionmaker() as session:
        row = (await session.execute(select(Customer))).scalar_one()
        statuses = set((await session.execute(select(InboxEvent.status))).scalars())
    assert statuses == {"done"}  # the event itself is applied
    assert hub.cipher.decrypt(row.email_enc) == good["email"]
    assert hub.cipher.decrypt(row.phone_enc) == good["phone"]
    assert hub.cipher.decrypt(row.name_enc) == "New Name"  # the rest of it still merges
