"""The outbox table as the dispatcher uses it: claims, coalescing, outcome writes.

A claim leases the notifications that need work now (see :mod:`hub.delivery.dispatcher` for
what each status needs): transactional ones first, campaign ones only in the slots the caller's
share allows, never a later stage of a return while an earlier one on the same channel is
unfinished. Within each, recovery rows (``unknown``, ``sent`` past their receipt deadline,
``sending`` with an expired lease) up to the caller's ``ahead`` come first, then pending rows
by due time, then the other recovery rows (hub.delivery.share: ``RecoveryShare``). Outcomes
are written in groups: the rows this worker still leases get their next columns (one
executemany per set of columns), an attempt log and a timeline entry each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, exists, insert, inspect, literal_column, or_, select, update

from hub.store.batch_rows import fetch_locked
from hub.store.bulk import execute_many
from hub.store.claims import ReadyProbe, claim, release, release_statement
from hub.store.dialect import likely, lock_skip_locked
from hub.store.direct_reads import fetch
from hub.store.engine import utcnow
from hub.store.models import Customer, DeliveryAttempt, Notification, Return, TimelineEntry

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from sqlalchemy import Update
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(slots=True)
class Claimed:
    """A claimed notification with what rendering needs, and the status it was claimed from.

    The outbox fills ``notification``, ``ret`` and ``customer`` with read-only snapshots of
    the rows (every column as an attribute, see :class:`_Snapshot`) rather than ORM entities;
    anything that only reads their columns takes either."""

    notification: Notification
    ret: Return
    customer: Customer | None
    prior_status: str
    superseded_by: str | None = None
    #: The plaintext of its encrypted values (recipient, name, details), when the process
    #: that encrypted them hands the row over in memory: composing it decrypts none of them.
    plaintexts: dict[bytes, bytes] | None = field(default=None, repr=False)


@dataclass(slots=True)
class Written:
    """One outcome to write: the notification's next columns, the status its send reached
    (the timeline's), the provider calls made and when it finished."""

    notification: Any
    values: dict[str, Any]
    reported: str
    attempts: Sequence[Any]
    finished_at: datetime


class _Snapshot:
    """Reads one model's columns out of a Core row as attributes named like the model's."""

    def __init__(self, model: type) -> None:
        attributes = inspect(model).column_attrs
        self.keys = tuple(attribute.key for attribute in attributes)
        self.columns = tuple(attribute.columns[0] for attribute in attributes)
        self.id_at = self.keys.index("id")

    def read(self, values: tuple) -> SimpleNamespace:
        """The snapshot of one row's values, in :attr:`columns` order."""
        return SimpleNamespace(**dict(zip(self.keys, values, strict=True)))


_NOTIFICATION = _Snapshot(Notification)
_TABLE = Notification.__table__
#: Status and return of the rows of ``ids`` leased to ``owner``, locked in one order.
_STILL_LEASED = select(_TABLE.c.id, _TABLE.c.status, _TABLE.c.return_id).where(
    _TABLE.c.id.in_(bindparam("ids", expanding=True)),
    _TABLE.c.lease_owner == bindparam("owner", type_=_TABLE.c.lease_owner.type)
).order_by(_TABLE.c.id)
#: The (return, channel) pairs of ``return_ids`` with a transactional notification on its way.
_UNFINISHED_CHANNELS = select(_TABLE.c.return_id, _TABLE.c.channel).distinct().where(
    _TABLE.c.return_id.in_(bindparam("return_ids", expanding=True)), _TABLE.c.priority == 0,
    _TABLE.c.status.in_(("pending", "sending", "unknown")))
_INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)
_INSERT_TIMELINE = insert(TimelineEntry.__table__)
_RETURN = _Snapshot(Return)
_CUSTOMER = _Snapshot(Customer)
#: The columns of a planned row that the planner leaves to their defaults.
_PLANNED_DEFAULTS = {**dict.fromkeys(_NOTIFICATION.keys), "category": "transactional",
                     "priority": 0, "attempts": 0, "tried_providers": []}


def planned_snapshot(row: dict[str, Any]) -> SimpleNamespace:
    """The snapshot a claim would read of the notification inserted with ``row``."""
    return SimpleNamespace(**{**_PLANNED_DEFAULTS, **row})


def on_return(notification: Any, return_id: int) -> Any:
    """The snapshot ``notification`` on the return it belongs to now: a merge moves a
    notification that a worker holds (claimed or handed off, sent or not) to the kept return
    and deletes the other, so its outcome's timeline entry and fallback go to ``return_id``."""
    if notification.return_id == return_id:
        return notification
    return SimpleNamespace(**{**vars(notification), "return_id": return_id})


async def unfinished_channels(session: AsyncSession, return_ids: set[int]
                              ) -> set[tuple[int, str]]:
    """The (return, channel) pairs of ``return_ids`` with a transactional notification still
    on its way: a notification planned now for one of them must wait its turn (the claim's
    ordering rule, :func:`_earlier_unfinished`)."""
    rows = await fetch(session, _UNFINISHED_CHANNELS, {"return_ids": list(return_ids)})
    return {(return_id, channel) for return_id, channel in rows}


class Outbox:
    """The dispatcher's reads and writes of the outbox, leased as ``owner``."""

    def __init__(self, sessionmaker: async_sessionmaker, owner: str,
                 lease_seconds: float) -> None:
        self.sessionmaker = sessionmaker
        self.owner = owner
        self.lease_seconds = lease_seconds
        #: Outcome UPDATE statements by the columns they set (built once, reused).
        self._updates: dict[tuple[str, ...], Update] = {}
        self._probe = ReadyProbe(sessionmaker, Notification.__table__,
                                 lambda now: _ready(now)[0])

    async def claim(self, limit: int, *, spare: Callable[[int, int], int], ahead: int = 0,
                    coalescible: Callable[[Any], bool] | None = None,
                    take_over_sends: bool = True) -> list[Claimed]:
        """Lease up to ``limit`` notifications that need work now. ``spare(free, busy)``: how
        many campaign rows may fill the ``free`` slots left after ``busy`` transactional ones.
        ``ahead``: how many recovery rows (an unknown outcome to reconcile, a receipt overdue,
        a dead worker's lease) may be taken before pending ones; the rest of the claim takes
        pending rows first, then recovery rows. ``coalescible``: which pending notifications a
        later one of the same return, channel and recipient may supersede (None: coalescing
        is off). ``take_over_sends``: False leaves alone the rows whose lease ran out after
        their calls started, this worker's too (:mod:`hub.delivery.takeover`)."""
        now = utcnow()
        n = _N
        ready, recovery_ready = _ready(now, take_over_sends=take_over_sends)
        options = {"order_by": n.next_attempt_at, "rank": n.status != "pending",
                   "owner": self.owner, "now": now, "lease_seconds": self.lease_seconds,
                   "values": {"status": "sending"}, "columns": (n.id, n.status, n.send_started_at)}
        if not await self._probe(now):
            return []
        async with self.sessionmaker() as session, session.begin():
            rows = await claim(session, Notification, ready=and_(ready, _TRANSACTIONAL),
                               ahead=(and_(recovery_ready, _TRANSACTIONAL), ahead),
                               limit=limit, **options)
            campaign = spare(limit - len(rows), len(rows))
            if campaign:
                ahead -= sum(1 for _, status, _ in rows if status != "pending")
                rows += await claim(session, Notification, ready=and_(ready, n.priority > 0),
                                    ahead=(and_(recovery_ready, n.priority > 0), ahead),
                                    limit=campaign, **options)
            if not rows:
                return []
            # A crashed worker's row without a send intent never reached a provider.
            prior = {id_: "pending" if status == "sending" and started is None else status
                     for id_, status, started in rows}
            loaded = await load_claimed(session, list(prior))
            newer = {}
            if coalescible is not None:
                newer = await superseding(session, [
                    n for n, _, _ in loaded if prior[n.id] == "pending" and coalescible(n)])
        return [Claimed(notification, ret, customer, prior[notification.id],
                        newer.get(notification.id))
                for notification, ret, customer in loaded]

    async def release(self, leases: list[tuple[datetime, str]]) -> None:
        """Give back this worker's leases on notifications that no provider call has started
        for (queued hand-offs, by lease end and id): pending again, for anyone. A row whose
        lease ends otherwise now was taken over by a claim, and is left alone."""
        if not leases:
            return
        async with self.sessionmaker() as session, session.begin():
            await release(session, _RELEASE, leases)

    async def extend(self, ids: Sequence[str], until: datetime) -> None:
        """Move to ``until`` the leases this worker still holds on ``ids`` while they are
        ``sending`` (being worked on: hub.delivery.lease_keeper). A row taken
        over, or whose outcome is written, is left alone. On PostgreSQL a row another
        transaction holds is skipped (renewed next time), so that no lock order elsewhere can
        make a cycle with this one."""
        table = Notification.__table__
        mine = and_(table.c.id.in_(sorted(ids)), table.c.lease_owner == self.owner,
                    _STATUS_IS["sending"])
        async with self.sessionmaker() as session, session.begin():
            # A row another transaction holds (an intent, an outcome, a receipt) is left for
            # the next renewal: waiting for it could close a cycle with a writer that locks
            # in another order (the intents go provider by provider).
            held = (await session.execute(lock_skip_locked(
                session, select(table.c.id).where(mine).order_by(table.c.id)))).scalars().all()
            if held:
                await session.execute(update(table).where(table.c.id.in_(held))
                                      .values(lease_until=until))

    async def still_leased(self, session: AsyncSession, ids: list[str]
                           ) -> dict[str, tuple[str, int]]:
        """Which of ``ids`` this worker still leases, with their status and return now: after
        its lease ran out a row belongs to whichever worker claimed it next, and a merge may
        have moved it to another return since it was read (see :func:`on_return`). Locked on
        PostgreSQL, so that no claim takes one over, nor a merge moves it, before this
        transaction writes it."""
        rows = await fetch_locked(session, _STILL_LEASED, {"ids": ids, "owner": self.owner})
        return {id_: (status, return_id) for id_, status, return_id in rows}

    async def write(self, session: AsyncSession, written: list[Written]) -> None:
        """Write outcomes of rows this worker leases (see :meth:`still_leased`): their
        columns, one attempt row per provider call and a timeline entry each."""
        groups: dict[tuple[str, ...], list[dict]] = {}
        for item in written:
            params = {f"new_{key}": value for key, value in item.values.items()}
            params["old_id"] = item.notification.id
            params["owner"] = self.owner
            groups.setdefault(tuple(sorted(item.values)), []).append(params)
        for keys, params in groups.items():  # sent, retry, failed... set different columns
            await execute_many(session, self._update_statement(keys), params)
        attempts = [_attempt_row(item.notification.id, item.values["attempts"], record)
                    for item in written for record in item.attempts]
        if attempts:
            await execute_many(session, _INSERT_ATTEMPT, attempts)
        if written:
            await execute_many(session, _INSERT_TIMELINE,
                               [_timeline_row(item) for item in written])

    async def log_attempts(self, session: AsyncSession,
                           lost: list[tuple[Any, Sequence[Any]]]) -> None:
        """Log the provider calls of deliveries whose rows another worker took over meanwhile
        (a notification and its calls each); the rows themselves are that worker's to write.
        Counted as the attempt after the ones the delivery saw when it took its row."""
        rows = [_attempt_row(notification.id, notification.attempts + 1, record)
                for notification, records in lost for record in records]
        if rows:
            await execute_many(session, _INSERT_ATTEMPT, rows)

    def _update_statement(self, keys: tuple[str, ...]) -> Update:
        statement = self._updates.get(keys)
        if statement is None:
            table = Notification.__table__
            # Typed binds: the UTC datetime and JSON columns convert their values. The owner
            # is a parameter, not a constant of the statement: the statement then runs
            # straight on SQLite's connection (hub.store.bulk).
            statement = (update(table)
                         .where(table.c.id == bindparam("old_id", type_=table.c.id.type),
                                table.c.lease_owner == bindparam("owner",
                                                                 type_=table.c.lease_owner.type))
                         .values({key: bindparam(f"new_{key}", type_=table.c[key].type)
                                  for key in keys}))
            self._updates[keys] = statement
        return statement


async def superseding(session: AsyncSession, candidates: list[Any]) -> dict[str, str]:
    """Coalescing: of the pending ``candidates``, those a later notification of the same
    return, channel and recipient supersedes, with the id of the one that does."""
    if not candidates:
        return {}
    table = Notification.__table__
    others = (await session.execute(select(
        table.c.id, table.c.return_id, table.c.channel, table.c.recipient_hash,
        table.c.created_at).where(
        table.c.return_id.in_({n.return_id for n in candidates}),
        table.c.status.notin_(("superseded", "skipped")),
        # A fallback repeats an earlier stage on another channel: it replaces nothing (found
        # from outside: the "requested" text planned after a bounce superseded the
        # "approved" text waiting in its coalescing window).
        table.c.fallback_of.is_(None),
        table.c.campaign_id.is_(None)))).all()
    superseded = {}
    for notification in candidates:
        for other in others:
            if (other.id != notification.id and other.return_id == notification.return_id
                    and other.channel == notification.channel
                    and other.recipient_hash == notification.recipient_hash
                    and other.created_at > notification.created_at):
                superseded[notification.id] = other.id
                break
    return superseded


async def load_claimed(session: AsyncSession, ids: list[str]) -> list[tuple]:
    """(notification, return, customer or None) snapshots of the notifications ``ids``, in that
    order, in one query."""
    notifications, returns = Notification.__table__, Return.__table__
    customers = Customer.__table__
    query = (select(*_NOTIFICATION.columns, *_RETURN.columns, *_CUSTOMER.columns)
             .select_from(notifications.join(returns, returns.c.id == notifications.c.return_id)
                          .outerjoin(customers, customers.c.id == returns.c.customer_id))
             .where(notifications.c.id.in_(ids)))
    ends = (len(_NOTIFICATION.columns), len(_NOTIFICATION.columns) + len(_RETURN.columns))
    loaded = {}
    for row in (await session.execute(query)).all():
        notification = _NOTIFICATION.read(row[:ends[0]])
        customer = row[ends[1]:]
        loaded[notification.id] = (notification, _RETURN.read(row[ends[0]:ends[1]]),
                                   _CUSTOMER.read(customer) if customer[_CUSTOMER.id_at] is not None
                                   else None)  # no customer row: the outer join gave NULLs
    return [loaded[id_] for id_ in ids if id_ in loaded]


def _earlier_unfinished():  # noqa: ANN202
    """An earlier stage of the same return on the same channel is still on its way: the later
    one waits, so stages never arrive out of order, whichever worker holds which."""
    later = Notification.__table__.c
    earlier = Notification.__table__.alias("earlier").c
    return exists().where(
        earlier.return_id == later.return_id,
        earlier.channel == later.channel,
        earlier.priority == later.priority,  # a campaign message never holds back a stage
        earlier.status.in_(("pending", "sending", "unknown")),
        or_(earlier.created_at < later.created_at,
            and_(earlier.created_at == later.created_at,
                 earlier.inbox_event_id < later.inbox_event_id)))


#: Built once: it has no parameters, and claims are frequent.
_EARLIER_UNFINISHED = _earlier_unfinished()
_N = Notification.__table__.c
#: The claim's status tests, each status written into the statement rather than bound: the
#: ``'sent'`` one implies the WHERE of ix_notifications_receipt_due in any plan, and SQLite's
#: plan depends on no bound value (it compared bound statuses with that WHERE, and so
#: compiled the claim again on every claim: 2.35 ms, against 0.22, on an empty outbox).
_STATUS_IS = {status: _N.status == literal_column(f"'{status}'")
              for status in ("pending", "unknown", "sent", "sending")}
#: Nearly every notification is transactional: see :class:`hub.store.dialect.likely`.
_TRANSACTIONAL = likely(_N.priority == 0)


def _ready(now: Any, *, take_over_sends: bool = True) -> tuple[Any, Any]:
    """What a claim at ``now`` may take (a datetime, or the probe's bind parameter): every
    notification due, and of them the recovery work (an unknown outcome to reconcile, a
    receipt overdue, a dead worker's lease: with ``take_over_sends`` False, only one whose call
    had not started), each behind any earlier stage still on its way."""
    n = _N
    lease_free = or_(n.lease_until.is_(None), n.lease_until < now)
    taken_over = and_(_STATUS_IS["sending"], n.lease_until < now)
    if not take_over_sends:
        taken_over = and_(taken_over, n.send_started_at.is_(None))
    recovering = or_(
        and_(_STATUS_IS["unknown"], n.next_attempt_at <= now, lease_free),
        and_(_STATUS_IS["sent"], n.receipt_due_at <= now, lease_free),
        taken_over)
    ready = and_(or_(and_(_STATUS_IS["pending"], n.next_attempt_at <= now, lease_free),
                     recovering), ~_EARLIER_UNFINISHED)
    return ready, and_(recovering, ~_EARLIER_UNFINISHED)


_RELEASE = release_statement(Notification.__table__, _N.status == "sending",
                             _N.send_started_at.is_(None), status="pending")


def _timeline_row(item: Written) -> dict:
    notification, values = item.notification, item.values
    return {
        "return_id": notification.return_id, "kind": "notification",
        "outcome": item.reported, "event_type": None, "from_state": None,
        "to_state": None, "inbox_event_id": notification.inbox_event_id,
        "notification_id": notification.id,
        "detail": {"channel": notification.channel, "stage": notification.stage,
                   "provider": values["provider"],
                   **({"error": values["last_error"]} if values.get("last_error") else {})},
        "occurred_at": item.finished_at, "recorded_at": item.finished_at,
    }


def _attempt_row(notification_id: str, attempt_no: int, record: Any) -> dict:
    return {"notification_id": notification_id, "attempt_no": attempt_no,
            "provider": record.provider, "outcome": record.outcome,
            "provider_message_id": record.provider_message_id, "error": record.error,
            "started_at": record.started_at, "duration_ms": round(record.duration_ms, 3)}
