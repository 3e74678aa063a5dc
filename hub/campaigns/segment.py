"""Segment filters: a CEL condition over a return and its customer, evaluated over the store in
batches (keyset pagination on the return id), so a segment of 100,000 never loads at once.

The variables a segment filter sees (the rules' CEL machinery, :mod:`hub.rules.engine`):

| name | what |
|---|---|
| ``state`` | the return's state now |
| ``stages`` | every state the return reached (list) |
| ``days_since`` | map: state → days since the return reached it (``days_since.refunded``) |
| ``reason`` | the return reason, lower snake case; ``reasons`` with every item's |
| ``categories`` | the items' categories; ``items``: ``sku``, ``category``, ``quantity``,
  ``price`` |
| ``region`` | shipping country code (upper case) or null |
| ``order`` | ``total`` (double), ``currency``; ``refund``: ``amount`` (double), ``method`` |
| ``exchange`` | true when the return was settled by an exchange |
| ``tags`` | the tags rules added to the return |
| ``source`` | the source name; ``age_days``: days since the return was created |
| ``consent`` | the customer's ``marketing`` consent (bool) and other preferences |

Example, "refunded in the last 30 days for wrong size, no exchange"::

    "refunded" in stages && days_since.refunded <= 30.0 && reason == "wrong_size" && !exchange
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import celpy
from celpy import celtypes
from sqlalchemy import select

from hub.rules.context import normalize_reason
from hub.rules.engine import _describe, _to_cel
from hub.store.models import Customer, Return, TimelineEntry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.store.codec import EventCodec

_EXCHANGE = "exchange_shipped"


class SegmentError(ValueError):
    """A segment filter that does not compile; the message says where."""


@dataclass(slots=True)
class Member:
    """A return that matched, with its customer (None when the return has none)."""

    ret: Any
    customer: Any
    variables: dict[str, Any]


class SegmentFilter:
    """One compiled segment filter."""

    def __init__(self, expression: str) -> None:
        environment = celpy.Environment()
        try:
            self._program = environment.program(environment.compile(expression))
        except celpy.CELParseError as exc:
            raise SegmentError(" ".join(str(exc).split())[:300]) from exc
        self.expression = expression

    def matches(self, variables: dict[str, Any]) -> tuple[bool, str | None]:
        """Whether ``variables`` match, and the evaluation error when they could not (a null
        compared, a missing map key: no match, like a rule)."""
        try:
            result = self._program.evaluate({k: _to_cel(v) for k, v in variables.items()})
        except Exception as exc:  # evaluation errors are no match, never a crash
            return False, _describe(exc)
        if isinstance(result, celpy.CELEvalError):
            return False, _describe(result)
        if not isinstance(result, celtypes.BoolType):
            return False, f"the filter gave {type(result).__name__}, not a bool"
        return bool(result), None


def segment_variables(ret: Any, customer: Any, details: dict, reached: dict[str, datetime],
                      now: datetime) -> dict[str, Any]:
    """The activation for one return (``reached``: state → when the return first reached it)."""
    items = [{"sku": item.get("sku"), "category": item.get("category"),
              "quantity": int(item.get("quantity") or 0),
              "price": _float((item.get("price") or {}).get("amount")),
              "reason": normalize_reason(item.get("reason"))}
             for item in details.get("items") or []]
    reason = normalize_reason(ret.reason)
    stages = sorted({*reached, ret.state})
    preferences = dict(customer.preferences or {}) if customer is not None else {}
    return {
        "state": ret.state,
        "stages": stages,
        "days_since": {state: (now - at).total_seconds() / 86400 for state, at in reached.items()},
        "reason": reason,
        "reasons": [r for r in [reason, *(i["reason"] for i in items)] if r],
        "categories": sorted({i["category"] for i in items if i["category"]}),
        "items": items,
        "region": details.get("region"),
        "order": {"total": _float(ret.order_total), "currency": ret.currency},
        "refund": {"amount": _float(ret.refund_amount), "method": ret.refund_method},
        "exchange": _EXCHANGE in stages or "exchange" in (ret.refund_method or "").lower(),
        "tags": list(details.get("tags") or []),
        "source": ret.source,
        "age_days": (now - ret.created_at).total_seconds() / 86400,
        "consent": {key: bool(value) for key, value in preferences.items()},
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(slots=True)
class Batch:
    """Returns read for one batch (with their customers and the states each reached)."""

    rows: list[tuple[Any, Any]]
    reached: dict[int, dict]
    last: int | None


async def read_batch(sessionmaker: async_sessionmaker, *, after: int, limit: int | None,
                     up_to: int | None = None, customer_ids: set[int] | None = None) -> Batch:
    """The next ``limit`` returns with an id above ``after`` (``last`` None: no more), read in
    a transaction of their own and released before any filter runs: on SQLite every
    transaction holds the write lock (``BEGIN IMMEDIATE``), so CEL must run outside one.
    ``up_to`` and ``customer_ids`` narrow it to those customers' returns up to an id."""
    returns, customers = Return.__table__, Customer.__table__
    where = [returns.c.id > after]
    if up_to is not None:
        where.append(returns.c.id <= up_to)
    if customer_ids is not None:
        where.append(returns.c.customer_id.in_(sorted(customer_ids)))
    async with sessionmaker() as session, session.begin():
        rows = (await session.execute(
            select(returns, customers).select_from(
                returns.outerjoin(customers, customers.c.id == returns.c.customer_id))
            .where(*where).order_by(returns.c.id).limit(limit))).all()
        if not rows:
            return Batch([], {}, None)
        reached = await _reached(session, [row[0] for row in rows])
    width = len(returns.c)
    pairs = [(_Row(returns.c.keys(), row[:width]),
              _Row(customers.c.keys(), row[width:]) if row[width] is not None else None)
             for row in rows]
    return Batch(pairs, reached, pairs[-1][0].id)


async def evaluate(segment: SegmentFilter, codec: EventCodec, batch: Batch,
                   now: datetime) -> list[Member]:
    """The batch's members (CPU only: the event loop gets a turn every 10 returns)."""
    members = []
    for index, (ret, customer) in enumerate(batch.rows):
        if index % 10 == 9:
            await asyncio.sleep(0)
        details = codec.decode_json(ret.details_enc) or {}
        variables = segment_variables(ret, customer, details, batch.reached.get(ret.id, {}),
                                      now)
        if segment.matches(variables)[0]:
            members.append(Member(ret, customer, variables))
    return members


async def members(sessionmaker: async_sessionmaker, segment: SegmentFilter, codec: EventCodec,
                  *, batch: int, now: datetime) -> AsyncIterator[Member]:
    """Every member of the segment, read ``batch`` returns at a time (preview counts)."""
    after: int | None = 0
    while after is not None:
        read = await read_batch(sessionmaker, after=after, limit=batch)
        for member in await evaluate(segment, codec, read, now):
            yield member
        after = read.last


async def _reached(session: AsyncSession, return_ids: list[int]) -> dict[int, dict]:
    timeline = TimelineEntry.__table__.c
    rows = (await session.execute(
        select(timeline.return_id, timeline.to_state, timeline.occurred_at)
        .where(timeline.return_id.in_(return_ids), timeline.kind == "event",
               timeline.outcome == "moved", timeline.to_state.is_not(None)))).all()
    reached: dict[int, dict] = {}
    for return_id, state, at in rows:
        states = reached.setdefault(return_id, {})
        if state not in states or at < states[state]:
            states[state] = at
    return reached


class _Row:
    """A Core row's columns as attributes."""

    def __init__(self, keys: Any, values: Any) -> None:
        self.__dict__.update(zip(keys, values, strict=True))
