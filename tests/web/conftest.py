"""Helpers for the web tests: tokens, seeded returns, a hub with the portal channel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import AuditEntry, Return
from hub.testing.factories import event_payload
from hub.tokens import create_token
from hub.web.app import create_app
from hub.web.portal import POLL_SECONDS
from tests.conftest import make_settings, signed_headers, started_hub


async def new_token(hub: Hub, name: str = "ops", scope: str = "admin", *,
                    regions: tuple[str, ...] = (), categories: tuple[str, ...] = ()) -> str:
    """Create a token directly in the database; returns it."""
    async with hub.sessionmaker() as session, session.begin():
        token, _ = await create_token(session, name, scope, utcnow(), regions=regions,
                                      categories=categories)
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def post_event(client: TestClient, payload: dict[str, Any], msg_id: str | None = None):
    """POST a signed event to the ``shop`` source."""
    body = json.dumps(payload).encode()
    response = await client.post("/webhooks/shop", data=body,
                                 headers=signed_headers(body, msg_id))
    assert response.status in (200, 202), await response.text()
    return response


async def seed(client: TestClient, hub: Hub, reference: str, *types: str,
               country: str | None = None, category: str | None = None,
               **overrides: Any) -> int:
    """Apply ``types`` events to return ``reference`` (drained), returns its id."""
    for minute, event_type in enumerate(types or ("return.approved",), start=1):
        payload = event_payload(event_type, reference, minutes=minute, **overrides)
        if country:
            payload["extra"] = {"shipping_country": country}
        if category:
            for item in payload["items"]:
                item["category"] = category
        await post_event(client, payload)
        await hub.drain()
    async with hub.sessionmaker() as session:
        return (await session.execute(select(Return.id).where(
            Return.external_id == reference))).scalar_one()


async def audit_actions(hub: Hub) -> list[tuple[str, str, str | None]]:
    """(token name, action, target) of every audit entry, oldest first."""
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(r.token_name, r.action, r.target) for r in rows]


def portal_settings(tmp_path: Path, db_url: str):
    """The usual test settings plus the ``portal`` sink and channel on every stage."""
    channels = ["email", "portal"]
    return make_settings(
        tmp_path, db_url,
        sinks={"portal": {"type": "portal"}},
        channels={"portal": {"providers": ["portal"]}},
        notifications={"stages": {stage: {"channels": channels} for stage in (
            "requested", "approved", "label_created", "in_transit", "received", "refunded")}})


@pytest.fixture
async def portal_hub(tmp_path: Path, db_url: str) -> AsyncIterator[Hub]:
    """A started hub (workers driven by ``drain``) with the portal channel."""
    async with started_hub(portal_settings(tmp_path, db_url)) as instance:
        yield instance


@pytest.fixture
async def portal_client(portal_hub: Hub) -> AsyncIterator[TestClient]:
    """A client of the portal hub's app, with fast live-update polling."""
    app = create_app(portal_hub)
    app[POLL_SECONDS] = 0.05
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
