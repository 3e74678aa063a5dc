"""Alerts in the admin API (``GET /api/alerts``) and the listing the dashboard shares."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from sqlalchemy import func, select

from hub.store.models_alerts import Alert
from hub.web.admin.paging import before, decode_cursor, encode_cursor
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import Out, Page, PageQuery

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

router = ApiRouter(tag="alerts")


class AlertQuery(PageQuery):
    """Filters of the alert list. Newest first."""

    status: Literal["open", "resolved"] | None = Field(None, description="Only open or only "
                                                       "resolved alerts (default: both).")
    rule: str | None = Field(None, max_length=100)


class AlertOut(Out):
    """One alert: a rule's condition holding for a subject, from opened to resolved."""

    id: int
    rule: str
    kind: str
    subject: str
    severity: str
    status: str
    value: float | None
    summary: str
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    notices_sent: int
    last_notified_at: datetime | None
    notice: str | None = Field(description="A notice still owed to operators (firing, "
                               "reminder, resolved); null once delivered.")
    notice_error: str | None


async def alerts_page(session: AsyncSession, limit: int, cursor: str | None = None, *,
                      status: str | None = None, rule: str | None = None
                      ) -> tuple[list[Alert], str | None]:
    """One page of alerts, newest first, and the next page's cursor."""
    statement = select(Alert).order_by(Alert.id.desc()).limit(limit + 1)
    if status:
        statement = statement.where(Alert.status == status)
    if rule:
        statement = statement.where(Alert.rule == rule)
    if cursor:
        statement = statement.where(before((Alert.id,), decode_cursor(cursor, int)))
    rows = list((await session.execute(statement)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].id) if more and rows else None


async def count_open_alerts(session: AsyncSession) -> int:
    """How many alerts are open now."""
    return (await session.execute(select(func.count()).select_from(Alert).where(
        Alert.status == "open"))).scalar_one()


@router.route("GET", "/api/alerts", summary="List alerts, newest first", scope="read",
              query=AlertQuery, response=Page[AlertOut])
async def list_alerts(call: Call) -> Page[AlertOut]:
    """Open and resolved alerts (docs/alerts.md)."""
    query: AlertQuery = call.query
    async with call.hub.sessionmaker() as session:
        rows, cursor = await alerts_page(session, query.limit, query.cursor,
                                         status=query.status, rule=query.rule)
    return Page[AlertOut](items=[AlertOut.model_validate(r) for r in rows], next_cursor=cursor)
