"""Stored work a configuration strands: ``returnhub check`` warns about it before a restart,
and ``serve`` logs it when it starts.

Found from outside: an operator renamed a sink (``[sinks.mail]`` to ``[sinks.sendgrid]``, the
same account) with messages in flight. The stored rows name the old sink, so its bounces were
recorded and ignored (no fallback), its per-message Twilio callbacks got 404, unknown texts
were failed without asking Twilio, and a receipt-deadline failover sent the email again
through the same account; a removed channel or a renamed template folder turned pending
messages into failures and dead letters. ``check`` said the configuration was valid. It still
is (the configuration itself is fine), but now it says what the stored work will do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from hub.store.engine import (
    in_memory_sqlite,
    is_sqlite,
    make_engine,
    make_sessionmaker,
    reading,
    sqlite_path,
    utcnow,
)
from hub.store.migrate import current_revision
from hub.store.stored_work import RECEIPTS_FOR, StoredNames, stored_names
from hub.store.template_store import TemplateStore
from hub.templates import TemplateRenderer, missing_channel_files

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.config import Settings


def stranded(names: StoredNames, settings: Settings, sink_names: Collection[str],
             template_missing: Callable[[str, str], bool]) -> list[str]:
    """One line for each name the stored work needs that ``settings`` lacks. ``sink_names``:
    the sinks' names now and their former ones (:func:`hub.assembly.former_names`);
    ``template_missing(template, channel)``: whether the files a channel sends are missing."""
    lines = []
    days = RECEIPTS_FOR.days
    for sink, count in sorted(names.sinks.items()):
        if sink not in sink_names:
            lines.append(
                f"{count} stored messages (in flight, or sent in the last {days} days) name sink "
                f"{sink!r}, which this configuration does not have: its status webhooks "
                f"(bounces, failures) will find no sink and trigger no fallback, its unknown "
                f"outcomes cannot be looked up, and a failover may send through the same "
                f"account again. A sink's name is how stored messages find it: a renamed sink "
                f"lists its old name in `formerly` (docs/operations.md, \"Renaming and "
                f"removing\")")
    for channel, count in sorted(names.channels.items()):
        if channel not in settings.channels:
            lines.append(
                f"{count} messages in flight are for channel {channel!r}, which this "
                f"configuration does not route: they will fail (and fall back where their "
                f"stage says)")
    for (template, channel), count in sorted(names.templates.items()):
        if channel in settings.channels and template_missing(template, channel):
            lines.append(
                f"{count} {channel} messages in flight use template {template!r}, whose files "
                f"for {channel} are missing: they will be dead letters, and replays too until "
                f"the folder is back")
    return lines


async def stranded_in(sessions: async_sessionmaker, settings: Settings,
                      sink_names: Collection[str], has: Callable[[str], bool]) -> list[str]:
    """:func:`stranded` for the database of ``sessions`` (``has``: whether a template file
    exists)."""
    async with reading(sessions) as session:
        names = await stored_names(session, utcnow())
    return stranded(names, settings, sink_names,
                    lambda template, channel: bool(missing_channel_files(has, template, channel)))


def stranded_in_database(settings: Settings, sink_names: Collection[str]) -> list[str]:
    """:func:`stranded_in` for the configured database, opened for this only (``returnhub
    check``), with the template files and the library's templates saved in it; nothing for a
    database with nothing stored yet (no file, no schema)."""
    url = settings.database_url
    if is_sqlite(url) and (in_memory_sqlite(url) or not Path(sqlite_path(url)).exists()):
        return []

    async def read() -> list[str]:
        engine = make_engine(url)
        try:
            if await current_revision(engine) is None:
                return []
            sessions = make_sessionmaker(engine)
            library = {path: source for path, (_, source)
                       in (await TemplateStore(sessions).current()).items()}
            renderer = TemplateRenderer(settings.notifications.templates_dir, library=library)
            return await stranded_in(sessions, settings, sink_names, renderer.has)
        finally:
            await engine.dispose()
    return asyncio.run(read())
