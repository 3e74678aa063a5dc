"""``returnhub simulate FILE``: one event through apply, plan and render, nothing delivered.

Runs on a scratch SQLite database in a temporary folder, with the configured sources, stages,
channels and templates, and returns the messages that would be sent, as text lines.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from hub.local_payload import read_events
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Customer, Notification, Return, TimelineEntry
from hub.store.outbox import Claimed
from hub.templates_in_use import UNREAD, saved_library

if TYPE_CHECKING:
    from hub.config import Settings


async def simulate(settings: Settings, payload: str, *, source: str | None = None,
                   headers: dict[str, str] | None = None) -> list[str]:
    """The lines ``returnhub simulate`` prints for a file: a normalized event attributed to
    ``source`` (default ``simulated``), or a platform payload parsed by the configured source
    ``source`` (inferred when only one reads it; hub.local_payload)."""
    with tempfile.TemporaryDirectory(prefix="returnhub-simulate-") as scratch:
        scratch_settings = settings.model_copy(deep=True)
        scratch_settings.data_dir = Path(scratch)
        scratch_settings.database.url = f"sqlite+aiosqlite:///{Path(scratch) / 'simulate.db'}"
        hub = Hub.build(scratch_settings)
        await hub.start(workers=False)
        try:
            notes = await _use_saved_templates(hub, settings)
            found = await read_events(hub, payload, source=source, default_source="simulated",
                                      headers=headers)
            await hub.inbox.submit(found.events, utcnow())
            hub.build_workers()
            await hub.processor.drain()
            lines = [*notes, *found.notes]
            lines += [f"event {e.type.value} for return "
                      f"{e.return_id or (e.tracking.number if e.tracking else None)}"
                      for e in found.events]
            claimed = await _planned(hub)
            lines += [f"not sent ({entry.detail['stage']}): {entry.detail['reason']}"
                      for entry in await _withheld(hub)]
            if not claimed:
                lines.append("nothing would be sent (no stage reached, or no channel "
                             "configured). simulate starts from an empty database, so the "
                             "event's return is new to it: an event that follows an earlier "
                             "one (label_created after approved) may reach no stage alone; "
                             "`returnhub rules test` shows what the rules decide for it")
            for item in claimed:
                message = hub.composer.compose(item)
                providers = hub.dispatcher.router.providers_for(message.channel)
                held = item.notification.next_attempt_at
                lines.append(f"--- {message.channel} via {' → '.join(providers)} "
                             f"(template {item.notification.template}; not before "
                             f"{held.isoformat(timespec='seconds')})")
                if message.subject:
                    lines.append(f"Subject: {message.subject}")
                lines.append(message.text)
            return lines
        finally:
            await hub.stop()


async def _withheld(hub: Hub) -> list[TimelineEntry]:
    """Stages that notified nobody because the event was history or stale."""
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(TimelineEntry).where(
            TimelineEntry.outcome == "withheld").order_by(TimelineEntry.id))).scalars())


async def _planned(hub: Hub) -> list[Claimed]:
    """Every planned notification, whatever its release time (quiet hours, coalescing)."""
    async with hub.sessionmaker() as session:
        items = []
        for notification in (await session.execute(select(Notification))).scalars():
            ret = await session.get(Return, notification.return_id)
            customer = await session.get(Customer, ret.customer_id) if ret.customer_id else None
            items.append(Claimed(notification, ret, customer, prior_status="pending"))
        return items


async def _use_saved_templates(hub: Hub, settings: Settings) -> list[str]:
    """Render with the library saved through the admin API in the configured database, as
    the running hub does; a note when it cannot be read."""
    library = await saved_library(settings)
    if library is None:
        return [f"({UNREAD})"]
    if library:
        hub.templates.accept(hub.templates.build(library),
                             {path: (0, source) for path, source in library.items()})
    return []
