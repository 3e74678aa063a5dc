"""A plugin's bug costs its message, never a customer a second copy, and never a retry every
second for good. Found from outside by a plugin author: a sink whose ``send`` posted and then
returned None had its message posted 19 times in 20 s (the hub read the result outside its
guard and retried the row uncounted), and a raising ``returnhub_template_context`` hook
retried its row every second."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.contract import hookimpl
from hub.plugins import get_plugin_manager
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification
from returnhub_file import FileSink
from tests.conftest import make_settings, wait_for
from tests.delivery.test_receipt_batches import _event

CALLS: list[str] = []


class Forgetful(FileSink):
    """Writes the message, then forgets to say so."""

    type = "forgetful"

    async def send(self, message: Any) -> Any:
        await super().send(message)
        CALLS.append(message.message_id)


class Plugin:
    @hookimpl
    def returnhub_register_connectors(self, register: Any) -> None:
        register(Forgetful)


class Broken:
    @hookimpl
    def returnhub_template_context(self, stage: str, channel: str) -> dict:
        raise KeyError(stage)


async def _hub(tmp_path, db_url, *plugins: object, sink: str = "file") -> Hub:
    settings = make_settings(
        tmp_path, db_url, sinks={"outbox": {"type": sink, "directory": str(tmp_path / "out")}},
        notifications={"stages": {"approved": {"channels": ["email"]}}})
    hub = Hub.build(settings, get_plugin_manager(extra_plugins=list(plugins)))
    await hub.start()
    return hub


async def _rows(hub: Hub) -> list[Notification]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(Notification))).scalars())


async def test_a_send_that_returns_no_result_is_an_unknown_outcome_not_a_resend(
        tmp_path, db_url):
    CALLS.clear()
    hub = await _hub(tmp_path, db_url, Plugin(), sink="forgetful")
    try:
        await hub.inbox.submit([_event("R-forgetful")], utcnow())

        async def settled() -> bool:
            rows = await _rows(hub)
            return bool(rows) and rows[0].status not in ("pending", "sending")
        await wait_for(settled, timeout=20)
        [row] = await _rows(hub)
    finally:
        await hub.stop()
    # Before, the row never settled: it went back to pending, uncounted, and was sent again.
    assert CALLS == [row.id]
    assert (row.status, row.attempts) == ("unknown", 1)
    assert "send returned NoneType, not a SendResult" in row.last_error
    # Reconciled when reconcile_seconds (300 s) have passed, as any unknown outcome is.
    assert (row.next_attempt_at - utcnow()).total_seconds() > 200


async def test_a_raising_template_context_hook_makes_a_dead_letter_naming_the_hook(
        tmp_path, db_url):
    hub = await _hub(tmp_path, db_url, Broken())
    try:
        await hub.inbox.submit([_event("R-broken-hook")], utcnow())

        async def dead() -> bool:
            rows = await _rows(hub)
            return bool(rows) and rows[0].status == "dead"
        await wait_for(dead, timeout=20)
        [row] = await _rows(hub)
    finally:
        await hub.stop()
    assert "returnhub_template_context hook raised KeyError" in row.last_error
    assert row.attempts == 0  # nothing was sent
    assert not list((tmp_path / "out").rglob("*.eml"))
