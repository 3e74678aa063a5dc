"""The consent store on both databases: newest record wins, history kept, only changes
recorded, the audience query agrees with the per-customer one, and the GDPR export shows it."""

from __future__ import annotations

from datetime import timedelta

from hub import consent
from hub.store.engine import utcnow
from hub.store.models import Customer
from tests.web.conftest import bearer, new_token


async def _customers(hub, count: int) -> list[int]:
    now = utcnow()
    async with hub.sessionmaker() as session, session.begin():
        rows = [Customer(identity=f"shop:C-{n}", preferences={}, created_at=now,
                         updated_at=now) for n in range(count)]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_newest_record_wins_and_the_audience_query_agrees(hub):
    ids = await _customers(hub, 5)
    now = utcnow()
    async with hub.sessionmaker() as session, session.begin():
        assert await consent.record(session, ids[0], "email", True, "import", now)
        assert not await consent.record(session, ids[0], "email", True, "api", now)
        assert await consent.record(session, ids[1], "email", True, "api", now)
        assert await consent.record(session, ids[1], "email", False, "unsubscribe",
                                    now + timedelta(seconds=1))
        assert await consent.record(session, ids[2], "sms", True, "portal", now)
        assert not await consent.record(session, ids[3], "email", False, "portal", now)
        assert await consent.record(session, ids[4], "email", True, "portal", now)
    async with hub.sessionmaker() as session:
        audience = await consent.consented(session, "email", [*ids, *ids])
        one_by_one = {i for i in ids if (await consent.current(session, i, "email")).granted}
        assert audience == one_by_one == {ids[0], ids[4]}
        assert await consent.consented(session, "sms", ids) == {ids[2]}
        assert [(c.granted, c.source) for c in await consent.history(session, ids[1])] == [
            (True, "api"), (False, "unsubscribe")]


async def test_the_gdpr_export_lists_the_consent_history(hub, client):
    [customer_id] = await _customers(hub, 1)
    async with hub.sessionmaker() as session, session.begin():
        await consent.record(session, customer_id, "sms", True, "portal", utcnow())
    response = await client.get(f"/api/customers/{customer_id}/export",
                                headers=bearer(await new_token(hub)))
    assert response.status == 200
    [row] = (await response.json())["customer"]["marketing_consent"]
    assert (row["channel"], row["granted"], row["source"]) == ("sms", True, "portal")
