"""The batch applier's store: one batch's returns and customers, loaded as rows (returns
locked), handed to the decisions as views (:mod:`hub.domain.views`), and written back with a
constant number of statements per batch, with the batch's timeline, outbox rows, upstream
actions and inbox bookkeeping."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Numeric, bindparam, insert, select, update

from hub.domain.customers import attributes_of
from hub.domain.views import RETURN_FIELDS, CustomerView, ReturnView
from hub.jsonutil import dumps
from hub.store.batch_rows import (
    RowState,
    insert_ignoring_duplicates,
    insert_ignoring_duplicates_returning_ids,
    locked_rows,
    save_rows,
    unique,
    update_by_id,
)
from hub.store.bulk import execute_many, execute_returning
from hub.store.direct_reads import fetch, in_list
from hub.store.models import Customer, InboxEvent, Notification, Return, RuleAction, TimelineEntry
from hub.store.storable import stored_amount

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable
    from datetime import datetime

    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.security import PiiCipher
    from hub.store.codec import EventCodec

_RETURNS: Table = Return.__table__
_CUSTOMERS: Table = Customer.__table__
_INBOX: Table = InboxEvent.__table__
#: The returns' amount columns (``Numeric(14, 4)``): a row handed on in memory holds them
#: as a claim would read them back (:func:`hub.store.storable.stored_amount`).
_AMOUNTS = [column for column in _RETURNS.c
            if isinstance(column.type, Numeric) and column.type.scale is not None]

# The batch's statements, built once: on small batches, building them took longer than running
# them. Lists of values go in as expanding parameters.
_RETURNS_BY_ID = (select(_RETURNS).where(_RETURNS.c.id.in_(bindparam("ids", expanding=True)))
                  .order_by(_RETURNS.c.id))
_CUSTOMERS_BY_IDENTITY_OR_ID = select(_CUSTOMERS).where(
    _CUSTOMERS.c.identity.in_(bindparam("identities", expanding=True))
    | _CUSTOMERS.c.id.in_(bindparam("ids", expanding=True)))
_CUSTOMER_KEYS = tuple(_CUSTOMERS_BY_IDENTITY_OR_ID.selected_columns.keys())
_INSERT_TIMELINE = insert(TimelineEntry.__table__)
_INBOX_DONE = update(_INBOX).where(_INBOX.c.id.in_(bindparam("ids", expanding=True))).values(
    status="done", processed_at=bindparam("now", type_=_INBOX.c.processed_at.type),
    lease_owner=None, lease_until=None, last_error=None)
_INBOX_PARKED = update(_INBOX).where(_INBOX.c.id.in_(bindparam("ids", expanding=True))).values(
    status="parked", lease_owner=None, lease_until=None,
    last_error="no return with this tracking number yet")
_INBOX_UNPARKED = update(_INBOX).where(
    _INBOX.c.status == "parked", _INBOX.c.tracking_number.in_(bindparam("numbers", expanding=True))
).values(status="pending", available_at=bindparam("now", type_=_INBOX.c.available_at.type),
         last_error=None)


def return_view(row: Any, codec: EventCodec) -> ReturnView:
    """A stored return (a row or an entity) as the decisions see it."""
    view = ReturnView(id=row.id, **{name: getattr(row, name) for name in RETURN_FIELDS})
    view.details = codec.decode_json(row.details_enc)
    return view


def customer_view(row: Any, cipher: PiiCipher) -> CustomerView:
    """A stored customer (a row or an entity), decrypted, as the decisions see it."""
    return CustomerView(identity=row.identity, id=row.id, email=cipher.decrypt(row.email_enc),
                        phone=cipher.decrypt(row.phone_enc), name=cipher.decrypt(row.name_enc),
                        locale=row.locale, timezone=row.timezone,
                        preferences=dict(row.preferences or {}),
                        attributes=attributes_of(row, cipher), updated_at=row.updated_at)


class ReturnsBatch:
    """One batch's returns and customers. ``targets`` name returns the way the identity
    matching does: a database id, or a key of its own for a return the batch creates.

    ``codec`` should remember the plaintexts it handles (:class:`hub.store.codec.RecentPlaintexts`):
    the batch reads back what it encrypted."""

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self.cipher = codec.cipher
        self._rows: dict[Hashable, RowState] = {}  # target -> return row
        self._views: dict[Hashable, tuple[ReturnView, ReturnView]] = {}  # (loaded, current)
        self._customer_rows: dict[Any, RowState] = {}  # by identity and by id
        self._customers: dict[str, tuple[CustomerView | None, CustomerView]] = {}
        self._owner: dict[Hashable, str] = {}  # target -> its customer's identity
        self._saved: tuple[dict[int, RowState], dict[int, RowState]] = ({}, {})  # by id

    async def load(self, session: AsyncSession, return_ids: set[int],
                   identities: set[str]) -> None:
        """Load (and lock) the returns ``return_ids``, and the customers they and the events'
        customer ``identities`` name."""
        if return_ids:
            rows = await locked_rows(session, _RETURNS_BY_ID, {"ids": sorted(return_ids)}, {})
            self._rows = {row.id: row for row in rows}
        ids = {r.customer_id for r in self._rows.values() if r.customer_id}
        if identities or ids:
            found = await fetch(session, _CUSTOMERS_BY_IDENTITY_OR_ID,
                                {"identities": in_list(identities), "ids": in_list(ids)})
            for values in found:
                row = RowState(dict(zip(_CUSTOMER_KEYS, values, strict=True)))
                self._customer_rows[row.identity] = self._customer_rows[row.id] = row

    def return_of(self, target: Hashable) -> ReturnView | None:
        """The return ``target`` as decided so far in the batch (None: a new one)."""
        views = self._views.get(target)
        if views is None:
            row = self._rows.get(target)
            if row is None:
                return None
            view = return_view(row, self.codec)
            views = self._views[target] = (view, view)
        return views[1]

    def customer_of(self, target: Hashable, identity: str | None) -> CustomerView | None:
        """The customer of the return ``target`` (its owner so far in the batch, else the one
        it refers to), else the customer ``identity`` names."""
        owner = self._owner.get(target)
        if owner is None:
            row = self._rows.get(target)
            found = self._customer_rows.get(row.customer_id) if row and row.customer_id else None
            owner = found.identity if found is not None else identity
        if owner is None:
            return None
        views = self._customers.get(owner)
        if views is None:
            row = self._customer_rows.get(owner)
            if row is None:
                return None
            view = customer_view(row, self.cipher)
            views = self._customers[owner] = (view, view)
        return views[1]

    def update(self, target: Hashable, ret: ReturnView, customer: CustomerView | None) -> None:
        """Record what a decision made of the return ``target`` and its customer."""
        loaded = self._views.get(target, (None,))[0]
        self._views[target] = (loaded, ret)
        if customer is not None:
            self._customers[customer.identity] = (
                self._customers.get(customer.identity, (None,))[0], customer)
            self._owner[target] = customer.identity

    async def save(self, session: AsyncSession, now: datetime) -> dict[Hashable, int]:
        """Write new and changed customers, then returns (which refer to them), in the order
        the ORM's flush used: each table's updates in id order, then its inserts. Returns
        each target's database id."""
        customers = {identity: self._customer_row(identity, loaded, view, now)
                     for identity, (loaded, view) in self._customers.items()}
        await save_rows(session, _CUSTOMERS, unique(customers.values()), ("identity",))
        for target, (loaded, view) in self._views.items():
            row = self._return_row(target, loaded, view)
            owner = self._owner.get(target)
            if owner is not None:
                row.customer_id = customers[owner].id
        await save_rows(session, _RETURNS, unique(self._rows.values()), ("source", "external_id"))
        self._saved = ({row.id: row for row in self._rows.values()},
                       {row.id: row for row in self._customer_rows.values()})
        return {target: row.id for target, row in self._rows.items()}

    def saved_rows(self, return_id: int) -> tuple[RowState, RowState | None]:
        """After :meth:`save`: the return ``return_id``'s row and its customer's, every column
        as it is now stored (what a claim of one of its notifications would read)."""
        returns, customers = self._saved
        ret = returns[return_id]
        return ret, customers.get(ret.customer_id) if ret.customer_id is not None else None

    def _return_row(self, target: Hashable, loaded: ReturnView | None,
                    view: ReturnView) -> RowState:
        row = self._rows.get(target)
        if row is None:
            row = self._rows[target] = RowState(
                {**dict.fromkeys(_RETURNS.c.keys()), "details_enc": None}, new=True)
        for name in RETURN_FIELDS:
            setattr(row, name, getattr(view, name))
        for column in _AMOUNTS:
            value = getattr(row, column.name)
            if value is not None:
                setattr(row, column.name, stored_amount(Decimal(value), column))
        if view.details != (loaded.details if loaded is not None else None):
            row.details_enc = self.codec.encode_json(view.details)
        return row

    def _customer_row(self, identity: str, loaded: CustomerView | None, view: CustomerView,
                      now: datetime) -> RowState:
        row = self._customer_rows.get(identity)
        if row is None:
            values = dict.fromkeys(_CUSTOMERS.c.keys())
            values.update(identity=identity, preferences={}, created_at=now, updated_at=now)
            row = self._customer_rows[identity] = RowState(values, new=True)
            loaded = CustomerView(identity=identity)
        cipher = self.cipher
        if view.email != loaded.email:
            row.email_enc = cipher.encrypt(view.email)
            row.email_hash = cipher.lookup_hash(view.email)
        if view.phone != loaded.phone:
            row.phone_enc = cipher.encrypt(view.phone)
            row.phone_hash = cipher.lookup_hash(view.phone)
        if view.name != loaded.name:
            row.name_enc = cipher.encrypt(view.name)
        if view.attributes != loaded.attributes:
            row.attributes_enc = cipher.encrypt(dumps(view.attributes))
        row.locale, row.timezone, row.updated_at = view.locale, view.timezone, view.updated_at
        return row


async def write_batch(session: AsyncSession, *, notifications: list[dict],
                      timeline: list[dict], actions: list[dict], done: list[int],
                      parked: list[int], unmatchable: dict[int, str],
                      new_tracking: Iterable[str], now: datetime) -> set[str]:
    """Insert the batch's outbox rows, timeline and upstream actions (a duplicate idempotency
    key is skipped), mark its inbox rows, and unpark carrier scans waiting for a tracking
    number the batch made known. Returns the ids of the outbox rows inserted."""
    inserted: set[str] = set()
    if notifications:
        returned = await execute_returning(session, insert_ignoring_duplicates_returning_ids(
            session, Notification.__table__), notifications)
        inserted.update(found[0] for found in returned)
    if timeline:
        await execute_many(session, _INSERT_TIMELINE, timeline)
    if actions:
        await session.execute(insert_ignoring_duplicates(session, RuleAction.__table__), actions)
    if done:
        await fetch(session, _INBOX_DONE, {"ids": done, "now": now})
    if parked:
        await session.execute(_INBOX_PARKED, {"ids": parked})
    if unmatchable:
        await session.execute(update_by_id(_INBOX), [
            {"row_id": inbox_id, "status": "failed", "lease_owner": None,
             "lease_until": None, "last_error": reason}
            for inbox_id, reason in unmatchable.items()])
    numbers = list(new_tracking)
    if numbers:
        # Carrier scans that arrived before their return can be applied now.
        await session.execute(_INBOX_UNPARKED, {"numbers": numbers, "now": now})
    return inserted
