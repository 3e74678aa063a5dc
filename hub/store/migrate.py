"""Run Alembic migrations from code (``returnhub db upgrade``, and ``serve`` on start)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

SCRIPT_LOCATION = "hub.store:migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision``."""
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the database back to ``revision`` (migration tests; operators restoring an older
    release)."""
    await _run(engine, command.downgrade, revision)


async def _run(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()

    def _on(connection) -> None:  # noqa: ANN001
        config.attributes["connection"] = connection
        step(config, revision)

    async with _without_limits(engine) as migrating, migrating.begin() as connection:
        await connection.run_sync(_on)


@asynccontextmanager
async def _without_limits(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """``engine``, or on PostgreSQL one of its own for the migration, without the hub's
    statement timeout (:func:`hub.store.engine.make_engine`): an index on a large table may
    take minutes to build. ``engine``'s pooled connections are closed after it: their
    statements were prepared against the schema before (asyncpg would refuse them once)."""
    if engine.dialect.name != "postgresql":
        yield engine
        return
    own = create_async_engine(engine.url, poolclass=NullPool, hide_parameters=True)
    try:
        yield own
    finally:
        await own.dispose()
        await engine.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision (None: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision())


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
