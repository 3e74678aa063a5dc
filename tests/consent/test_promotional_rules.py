"""Promotional messages on the file sink: no consent, no message (transactional ones are not
affected); quiet hours hold promotions; a category's route picks its own providers; a route
naming an unknown sink is refused at load with its path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Customer, Notification
from hub.web.app import create_app
from tests.conftest import make_settings
from tests.consent.helpers import plan_promotion, status_of
from tests.web.conftest import bearer, new_token, seed


def _settings(tmp_path: Path, db_url: str, **notifications):
    return make_settings(
        tmp_path, db_url,
        sinks={"outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
               "promo": {"type": "file", "directory": str(tmp_path / "promo")}},
        channels={"email": {"providers": ["outbox"],
                            "categories": {"promotional": {"providers": ["promo"]}}},
                  "sms": {"providers": ["outbox"]}},
        notifications={"stages": {"approved": {"channels": ["email"], "urgent": True}},
                       "default_timezone": "UTC", **notifications})


async def _started(settings) -> Hub:
    hub = Hub.build(settings)
    await hub.start(workers=False)
    hub.build_workers()
    await hub.dispatcher.start()
    return hub


@pytest.fixture
async def routed(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Hub, TestClient]]:
    hub = await _started(_settings(tmp_path, db_url))
    try:
        async with TestClient(TestServer(create_app(hub))) as client:
            yield hub, client
    finally:
        await hub.stop()


async def _grant_email(hub: Hub, client: TestClient) -> None:
    async with hub.sessionmaker() as session:
        customer_id = (await session.execute(select(Customer.id))).scalar_one()
    response = await client.put(f"/api/customers/{customer_id}/consent",
                                json={"channels": {"email": True}},
                                headers=bearer(await new_token(hub)))
    assert response.status == 200


async def test_without_consent_a_promotion_is_skipped_and_transactional_mail_flows(
        routed, tmp_path: Path) -> None:
    hub, client = routed
    await seed(client, hub, "R-1")
    promo = await plan_promotion(hub, "R-1")
    await hub.drain()
    status, error = await status_of(hub, promo)
    assert status == "skipped" and error == "no marketing consent on email"
    assert list((tmp_path / "promo").glob("*")) == []
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1  # the approval email


async def test_a_category_route_picks_its_own_providers(routed, tmp_path: Path) -> None:
    hub, client = routed
    await seed(client, hub, "R-2")
    await _grant_email(hub, client)
    promo = await plan_promotion(hub, "R-2")
    await hub.drain()
    assert (await status_of(hub, promo))[0] == "sent"
    assert [p.name for p in (tmp_path / "promo").glob("*.eml")] == [f"{promo}.eml"]
    transactional = [p.name for p in (tmp_path / "outbox").glob("*.eml")]
    assert len(transactional) == 1 and f"{promo}.eml" not in transactional


async def test_quiet_hours_hold_promotions_until_they_end(tmp_path: Path, db_url: str) -> None:
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), \
        (now + timedelta(hours=2)).strftime("%H:%M")
    hub = await _started(_settings(tmp_path, db_url,
                                   quiet_hours={"start": start, "end": end}))
    try:
        async with TestClient(TestServer(create_app(hub))) as client:
            await seed(client, hub, "R-3")  # urgent transactional: sent during quiet hours
            await _grant_email(hub, client)
            promo = await plan_promotion(hub, "R-3")
            await hub.drain()
            async with hub.sessionmaker() as session:
                row = await session.get(Notification, promo)
            assert (row.status, row.attempts) == ("pending", 0)
            assert row.last_error == "held for the customer's quiet hours"
            assert row.next_attempt_at > utcnow() + timedelta(hours=1, minutes=50)
            assert list((tmp_path / "promo").glob("*")) == []
    finally:
        await hub.stop()


def test_a_category_route_to_an_unknown_sink_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(tmp_path, channels={"email": {
            "providers": ["outbox"], "categories": {"promotional": {"providers": ["nope"]}}}})
    assert "channels.email.categories.promotional.providers: no sink named 'nope'" \
        in str(refused.value)


async def test_an_internal_stage_is_planned_internal_and_routed_by_its_category(
        tmp_path: Path, db_url: str) -> None:
    settings = make_settings(
        tmp_path, db_url,
        sinks={"outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
               "it": {"type": "file", "directory": str(tmp_path / "it")}},
        channels={"email": {"providers": ["outbox"],
                            "categories": {"internal": {"providers": ["it"]}}},
                  "sms": {"providers": ["outbox"]}},
        notifications={"stages": {
            "approved": {"channels": ["email"]},
            "received": {"channels": ["email"], "category": "internal"}}})
    hub = await _started(settings)
    try:
        async with TestClient(TestServer(create_app(hub))) as client:
            await seed(client, hub, "R-4", "return.approved", "return.received")
        async with hub.sessionmaker() as session:
            rows = {n.stage: (n.category, n.status) for n in (await session.execute(
                select(Notification))).scalars()}
        assert rows == {"approved": ("transactional", "sent"),
                        "received": ("internal", "sent")}
        assert len(list((tmp_path / "it").glob("*.eml"))) == 1
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    finally:
        await hub.stop()
