"""Reading and writing the template library (``template_revisions``) for every node."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from hub.store.engine import reading, utcnow
from hub.store.models_templates import TemplateRevision

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class TemplateStore:
    """The library's templates in the database, seen alike by every node."""

    def __init__(self, sessionmaker: async_sessionmaker) -> None:
        self.sessionmaker = sessionmaker

    async def fingerprint(self) -> tuple[int, int | None]:
        """(row count, highest id): changes with every save. The count also moves when a
        save with a lower id commits after a higher one (PostgreSQL sequences)."""
        async with reading(self.sessionmaker) as session:
            count, top = (await session.execute(select(
                func.count(TemplateRevision.id), func.max(TemplateRevision.id)))).one()
        return int(count), top

    async def current(self) -> dict[str, tuple[int, str]]:
        """Every path's newest revision: {path: (revision id, source)}, removals left out."""
        newest = (select(func.max(TemplateRevision.id))
                  .group_by(TemplateRevision.path).scalar_subquery())
        async with reading(self.sessionmaker) as session:
            rows = (await session.execute(select(
                TemplateRevision.path, TemplateRevision.id, TemplateRevision.source)
                .where(TemplateRevision.id.in_(newest)))).all()
        return {path: (rid, source) for path, rid, source in rows if source is not None}


def add_revision(session: AsyncSession, path: str, source: str | None,
                 token_name: str) -> TemplateRevision:
    """Add a revision of ``path`` to the caller's transaction (None removes the library's
    version)."""
    row = TemplateRevision(
        path=path, source=source, token_name=token_name, created_at=utcnow(),
        sha256=hashlib.sha256(source.encode()).hexdigest() if source is not None else None)
    session.add(row)
    return row


async def history(sessionmaker: async_sessionmaker, limit: int = 20) -> list[TemplateRevision]:
    """The newest saves and removals, newest first (without their sources)."""
    async with sessionmaker() as session:
        rows = (await session.execute(
            select(TemplateRevision.id, TemplateRevision.path, TemplateRevision.sha256,
                   TemplateRevision.token_name, TemplateRevision.created_at)
            .order_by(TemplateRevision.id.desc()).limit(limit))).all()
    return [TemplateRevision(id=r.id, path=r.path, sha256=r.sha256, token_name=r.token_name,
                             created_at=r.created_at) for r in rows]
