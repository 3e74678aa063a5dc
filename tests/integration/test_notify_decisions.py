"""The dry run and the pipeline take the one "may this event notify?" decision, so they agree on
a stale event; the customer-facing reference is chosen per source and reaches the messages.
On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.events import ReturnEvent
from hub.store.engine import utcnow
from hub.store.models import Notification, Return, TimelineEntry
from hub.testing.factories import event_payload
from tests.conftest import TEST_SECRET, make_settings, started_hub


def _event(days_old: float, **fields) -> ReturnEvent:
    payload = event_payload("return.refunded", f"R-{uuid.uuid4().hex[:8]}", **fields)
    payload["occurred_at"] = (datetime.now(UTC) - timedelta(days=days_old)).isoformat()
    return ReturnEvent.model_validate({**payload, "source": "shop",
                                       "source_event_id": uuid.uuid4().hex})


async def test_the_dry_run_withholds_what_the_pipeline_withholds(hub):
    stale, fresh = _event(10), _event(0)
    dry_stale, dry_fresh = await hub.rules.dry_run(stale), await hub.rules.dry_run(fresh)
    assert dry_stale["withheld"].startswith("stale: occurred 10 days before it arrived")
    assert dry_stale["would_send"] == []
    assert dry_fresh["withheld"] is None
    assert {s["channel"] for s in dry_fresh["would_send"]} == {"email", "sms"}

    await hub.inbox.submit([stale, fresh], utcnow())
    await hub.processor.drain()
    async with hub.sessionmaker() as session:
        withheld = list((await session.execute(select(TimelineEntry).where(
            TimelineEntry.outcome == "withheld"))).scalars())
        planned = list((await session.execute(select(Notification))).scalars())
        refs = {r.id: r.external_id for r in (await session.execute(select(Return))).scalars()}
    assert [refs[e.return_id] for e in withheld] == [stale.return_id]
    assert withheld[0].detail["reason"] == dry_stale["withheld"]
    assert {refs[n.return_id] for n in planned} == {fresh.return_id}


async def test_a_source_can_name_returns_by_their_order_number(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url, sources={"shop": {
        "type": "standard_webhooks", "secret": TEST_SECRET, "customer_reference": "order_name"}})
    async with started_hub(settings) as hub:
        event = _event(0, order_number="#5001", customer_reference="RMA-77")
        await hub.inbox.submit([event], utcnow())
        await hub.drain()
        async with hub.sessionmaker() as session:
            ret = (await session.execute(select(Return))).scalar_one()
        assert ret.customer_reference == "#5001"
        [mail] = (tmp_path / "outbox").glob("*.eml")
        message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
        assert "#5001" in message["Subject"] and event.return_id not in message["Subject"]
