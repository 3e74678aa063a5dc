"""What the stored notifications still need from the configuration: the channels, templates
and sinks named by work in flight, or by messages whose providers may still report on them.

A notification keeps the names it was planned and sent with (``channel``, ``template``,
``provider``, ``send_provider``): they are how it finds its route, its files, its status
webhooks and the provider to ask about an unknown outcome. :mod:`hub.stranded_work` compares
them with a configuration.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select

from hub.store.models import Notification

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

#: Statuses of a message not yet handed over for good (or whose handing over is not known).
IN_FLIGHT = ("pending", "sending", "unknown")
#: How long after a send its provider may still report on it: SendGrid retries a deferred
#: message for 72 hours, then reports a bounce or a drop.
RECEIPTS_FOR = timedelta(days=3)


@dataclass(slots=True)
class StoredNames:
    """Counts of notifications by the names they still need."""

    #: Messages in flight by channel.
    channels: Counter[str] = field(default_factory=Counter)
    #: Messages in flight by (template, channel).
    templates: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Messages in flight, or sent within :data:`RECEIPTS_FOR`, by the sink named on them.
    sinks: Counter[str] = field(default_factory=Counter)


async def stored_names(session: AsyncSession, now: datetime) -> StoredNames:
    """The names the stored notifications still need (three grouped reads)."""
    n = Notification.__table__.c
    names = StoredNames()
    in_flight = n.status.in_(IN_FLIGHT)
    for channel, template, count in await session.execute(
            select(n.channel, n.template, func.count()).where(in_flight)
            .group_by(n.channel, n.template)):
        names.channels[channel] += count
        names.templates[(template, channel)] += count
    reporting = or_(in_flight, n.sent_at >= now - RECEIPTS_FOR)
    for column in (n.provider, n.send_provider):
        for sink, count in await session.execute(
                select(column, func.count()).where(reporting, column.is_not(None))
                .group_by(column)):
            names.sinks[sink] = max(names.sinks[sink], count)
    return names
