"""The core runs a polling source on a schedule: the cursor survives a restart and no record
is stored twice."""

from __future__ import annotations

from sqlalchemy import func, select
from structlog.testing import capture_logs

from hub.runtime import Hub
from hub.store.models import InboxEvent, SourceCursor
from hub.testing.fake_erp import FakeErp
from tests.conftest import make_settings, wait_for

from .conftest import load_fixture
from .erp_helpers import API_TOKEN, odoo_section

MAPPED = 5  # records of the Odoo fixture page that map to hub events


async def inbox_count(hub: Hub) -> int:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(InboxEvent))).scalar_one()


async def test_polling_resumes_from_the_saved_cursor(tmp_path):
    records = load_fixture("erp/odoo_rma_page.json")["records"]
    async with FakeErp(records, cursor_field="write_date", token=API_TOKEN) as erp:
        section = {**odoo_section(), "type": "erp", "base_url": erp.url,
                   "poll_interval_seconds": 0.1,
                   "start": "backfill"}  # the fixture is history: import it
        settings = make_settings(tmp_path, sources={"odoo": section})
        first = Hub.build(settings)
        await first.start()
        try:
            await wait_for(lambda: inbox_count(first), timeout=20)
            await wait_for(lambda: _equals(inbox_count(first), MAPPED), timeout=20)
            # The cursor is saved just after the records' commit, in its own transaction.
            await wait_for(lambda: _cursor_saved(first), timeout=20)
            async with first.sessionmaker() as session:
                cursor = (await session.execute(select(SourceCursor))).scalar_one()
            assert cursor.cursor and cursor.last_error is None
        finally:
            await first.stop()

        served_before = len(erp.requests)
        newer = {**records[0], "id": 9001, "name": "RMA/2025/0099",
                 "write_date": "2030-01-01 00:00:00"}
        erp.upsert(newer)
        second = Hub.build(settings)  # a restart: same database, new process state
        await second.start(migrate=False)
        try:
            await wait_for(lambda: _equals(inbox_count(second), MAPPED + 1), timeout=20)
            await wait_for(lambda: len(erp.requests) > served_before + 2, timeout=20)
            assert await inbox_count(second) == MAPPED + 1  # nothing stored twice
            cursors = [q.get("updated_since") for q in erp.requests[served_before:]]
            assert cursors[0] == cursor.cursor  # resumed where the first run stopped
        finally:
            await second.stop()


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def test_a_polled_record_the_store_cannot_hold_is_skipped_and_the_rest_flow(tmp_path):
    """The core, not each source, decides what the inbox can hold: a record past a column's
    length is skipped and named, and the cursor moves on past it."""
    records = load_fixture("erp/odoo_rma_page.json")["records"]
    records[1] = {**records[1], "name": "RMA/" + "9" * 300}  # past the return reference column
    async with FakeErp(records, cursor_field="write_date", token=API_TOKEN) as erp:
        section = {**odoo_section(), "type": "erp", "base_url": erp.url,
                   "poll_interval_seconds": 0.1, "start": "backfill"}
        hub = Hub.build(make_settings(tmp_path, sources={"odoo": section}))
        with capture_logs() as logs:
            await hub.start()
            try:
                await wait_for(lambda: _cursor_saved(hub), timeout=20)
                stored = await inbox_count(hub)
            finally:
                await hub.stop()
    skipped = [entry for entry in logs if entry["event"] == "polled_event_skipped"]
    assert [(entry["source"], entry["field"]) for entry in skipped] == [("odoo", "return_id")]
    assert stored == MAPPED - 1


async def _cursor_saved(hub: Hub) -> bool:
    async with hub.sessionmaker() as session:
        cursor = (await session.execute(select(SourceCursor))).scalar_one_or_none()
    return cursor is not None and cursor.cursor is not None
