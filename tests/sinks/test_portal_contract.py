"""The core ``portal`` sink passes the shipped SinkContract, on SQLite and PostgreSQL (its
"provider" is the hub's own database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from hub.contract.testing import SinkContract, make_context, outbound_message
from hub.messages import OutboundMessage
from hub.portal.sink import PortalSettings, PortalSink
from hub.runtime import Hub
from hub.store.models import PortalMessage


class Database:
    """The hub's sessions, with a switch that makes the next connection fail as an unreachable
    server does (the tests may not stop the shared PostgreSQL server)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.down = False

    def __call__(self) -> Any:
        if self.down:
            raise ConnectionRefusedError("database unreachable")
        return self.hub.sessionmaker()


@pytest.fixture
def provider(hub: Hub) -> Database:
    """The hub's database (a SQLite file or a fresh PostgreSQL database)."""
    return Database(hub)


@pytest.fixture
async def sink(provider: Database) -> AsyncIterator[PortalSink]:
    """A started portal sink bound to the store, as the runtime binds it."""
    instance = PortalSink(PortalSettings(), make_context("portal"))
    instance.bind_store(provider, provider.hub.cipher)
    await instance.start()
    yield instance
    await instance.close()


class TestPortalSinkContract(SinkContract):
    """The shared sink contract."""

    sink_class = PortalSink
    # The recipient is the customer's key, not an address: nothing to refuse by its form.
    refused_recipient = None

    def message(self, to: str | None = None) -> OutboundMessage:
        return outbound_message("portal", to or "cust_contract_key")

    def break_provider(self, provider: Database) -> None:
        provider.down = True


async def test_contract_sends_are_stored_once(sink: PortalSink, provider: Database) -> None:
    """What the contract's happy send stored, once per message id."""
    message = TestPortalSinkContract().message()
    await sink.send(message)
    await sink.send(message)
    async with provider.hub.sessionmaker() as session:
        rows = list((await session.execute(select(PortalMessage).where(
            PortalMessage.notification_id == message.message_id))).scalars())
    assert len(rows) == 1 and rows[0].customer_key == "cust_contract_key"
