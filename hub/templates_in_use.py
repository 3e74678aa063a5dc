"""The templates a running hub sends with, for the commands that show messages without one
(``templates preview``, ``simulate``): the files, and the library saved through the admin
API, read from the configured database when it can be read."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from hub.store.engine import (
    in_memory_sqlite,
    is_sqlite,
    make_engine,
    make_sessionmaker,
    sqlite_path,
)
from hub.store.template_store import TemplateStore

if TYPE_CHECKING:
    from hub.config import Settings

#: How long a command waits for the database before it shows the files alone.
_PATIENCE_SECONDS = 10
#: What is printed when the library could not be read (the files are used alone).
UNREAD = "templates saved through the admin API are not shown: the database cannot be read"


async def saved_library(settings: Settings) -> dict[str, str] | None:
    """The library's current sources by path ({} when none is saved, or no database exists
    yet: nothing is created for asking); None when the database cannot be read."""
    url = settings.database_url
    # One stat before the command's other I/O: asking must not create a database file.
    absent = is_sqlite(url) and not Path(sqlite_path(url)).exists()  # noqa: ASYNC240
    if in_memory_sqlite(url) or absent:
        return {}
    engine = make_engine(url)
    try:
        async with asyncio.timeout(_PATIENCE_SECONDS):  # a server that does not answer
            current = await TemplateStore(make_sessionmaker(engine)).current()
    except (OSError, SQLAlchemyError, TimeoutError):
        return None
    finally:
        await engine.dispose()
    return {path: source for path, (_revision, source) in current.items()}
