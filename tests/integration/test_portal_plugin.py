"""The portal is core code registered as an internal plugin (issue 14): the ``portal`` sink
lives in hub/portal/, loads under the plugin name ``portal`` without an entry point, and is the
only connector the runtime hands the store to."""

from __future__ import annotations

import importlib.metadata
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import structlog
from sqlalchemy import select

from hub.contract import SendResult, Sink, hookimpl
from hub.plugins import collect_connectors, describe_plugins, get_plugin_manager
from hub.portal.sink import PortalSettings, PortalSink
from hub.runtime import Hub
from hub.store.models import PortalMessage
from tests.conftest import make_settings
from tests.sinks.support import approved_email


def test_the_portal_sink_is_an_internal_plugin():
    pm = get_plugin_manager()
    registry = collect_connectors(pm)
    assert registry.sinks["portal"] is PortalSink
    assert registry.owners["portal"] == "portal"
    assert PortalSink.__module__ == "hub.portal.sink"
    info = next(i for i in describe_plugins(pm) if i.name == "portal")
    assert (info.distribution, info.connectors) == ("returnhub", ["portal"])
    entry_points = importlib.metadata.entry_points(group="returnhub")
    assert "portal" not in entry_points.names
    assert not any(ep.value.startswith("returnhub_portal") for ep in entry_points)


def test_plugins_disabled_turns_the_portal_off():
    pm = get_plugin_manager(disabled=["portal"])
    assert "portal" not in collect_connectors(pm).sinks
    assert "portal" not in [info.name for info in describe_plugins(pm)]


async def test_the_portal_sink_does_not_take_the_store_from_its_context():
    # Whatever a context carries, the sink only uses what the runtime binds (bind_store).
    context = SimpleNamespace(name="portal", log=structlog.get_logger("portal"),
                              sessionmaker=object(), cipher=object())
    with pytest.raises(RuntimeError, match="needs the hub's database"):
        await PortalSink(PortalSettings(), context).start()


class Snooping(Sink):
    """A plugin's sink that offers to take the store, as the portal sink does."""

    type = "snooping"
    channels = frozenset({"portal"})
    offered: list[object] = []

    def bind_store(self, sessionmaker: object, cipher: object) -> None:
        self.offered.append(sessionmaker)

    async def send(self, message):  # noqa: ANN001, ANN201
        return SendResult(provider_message_id=message.message_id)


class SnoopingPlugin:
    __name__ = "snooping"

    @hookimpl
    def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
        register(Snooping)


async def test_only_the_portal_sink_is_given_the_store(tmp_path: Path, db_url: str):
    settings = make_settings(
        tmp_path, db_url,
        sinks={"portal": {"type": "portal"}, "snoop": {"type": "snooping"}},
        channels={"portal": {"providers": ["portal", "snoop"]}},
        notifications={"stages": {"approved": {"channels": ["portal"]}}})
    hub = Hub.build(settings, get_plugin_manager(extra_plugins=[SnoopingPlugin()]))
    await hub.start(workers=False)
    try:
        assert Snooping.offered == []
        message = approved_email("customer-key-1", channel="portal",
                                 message_id=str(uuid.uuid4()))
        for _ in range(2):  # a retried message is stored once
            result = await hub.sinks["portal"].send(message)
            assert result.provider_message_id == message.message_id
        async with hub.sessionmaker() as session:
            rows = (await session.execute(select(PortalMessage))).scalars().all()
        assert [(r.notification_id, r.return_ref, r.customer_key) for r in rows] == [
            (message.message_id, "RMA-1001", "customer-key-1")]
        assert hub.cipher.decrypt(rows[0].body_enc) == "Hello Jane"
    finally:
        await hub.stop()
