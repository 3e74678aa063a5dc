"""The audit log: every write through the admin API, with the token's name; and its listing."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub.logs import get_logger
from hub.store.models import AuditEntry
from hub.web.admin.paging import before, decode_cursor, encode_cursor
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import AuditOut, AuditQuery, Page

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.tokens import TokenInfo

log = get_logger("hub.admin")
router = ApiRouter(tag="audit")


def record(session: AsyncSession, token: TokenInfo, action: str, target: str | None,
           detail: dict[str, Any], now: datetime) -> None:
    """Add an audit entry to the caller's transaction (it commits with the change itself).
    ``detail`` must hold no customer data: ids, counts and field names only."""
    session.add(AuditEntry(token_name=token.name, action=action, target=target,
                           detail=detail, at=now))
    log.info("admin_change_made", token=token.name, action=action, target=target)


@router.route("GET", "/api/audit", summary="List the audit log, newest first", scope="admin",
              query=AuditQuery, response=Page[AuditOut])
async def list_audit(call: Call) -> Page[AuditOut]:
    """The audit log."""
    query: AuditQuery = call.query
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(query.limit + 1)
    if query.token_name:
        statement = statement.where(AuditEntry.token_name == query.token_name)
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.cursor:
        statement = statement.where(before((AuditEntry.id,), decode_cursor(query.cursor, int)))
    async with call.hub.sessionmaker() as session:
        rows = list((await session.execute(statement)).scalars())
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return Page[AuditOut](items=[AuditOut.model_validate(r) for r in rows],
                          next_cursor=encode_cursor(rows[-1].id) if more and rows else None)
