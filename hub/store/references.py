"""The store side of return identity: reading and writing ``return_references`` and
``match_decisions``. The decisions themselves are :mod:`hub.identity`'s."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select, text, tuple_, update

from hub.identity import OWN_ID, SHARED_KINDS, Reference
from hub.store.batch_rows import insert_ignoring
from hub.store.bulk import execute_many
from hub.store.direct_reads import fetch
from hub.store.models import (
    InboxEvent,
    MatchDecision,
    Return,
    ReturnReference,
    TimelineEntry,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

_REFS = ReturnReference.__table__
_DECISIONS = MatchDecision.__table__
_KEY_COLUMNS = ("scope", "kind", "value", "slot")


_HOLDERS = select(_REFS.c.kind, _REFS.c.value, _REFS.c.return_id).where(
    _REFS.c.scope == bindparam("scope"), _REFS.c.kind.in_(bindparam("kinds", expanding=True)),
    _REFS.c.value.in_(bindparam("values", expanding=True))).order_by(_REFS.c.return_id)


def slot_of(kind: str, return_id: int) -> int:
    """The unique key's last part: 0 where one return holds a value, else the return."""
    return return_id if kind in SHARED_KINDS else 0


async def holders(session: AsyncSession, scope: str, refs: Iterable[Reference]
                  ) -> dict[tuple[str, str], list[int]]:
    """The returns holding each of ``refs`` in ``scope``, by (kind, value)."""
    keys = {ref.key for ref in refs}
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    if not keys:
        return found
    # Every kind against every value: one statement whatever the mix of kinds (SQLite's
    # direct path, hub.store.direct_reads); a value held under another of the kinds asked
    # for is dropped here.
    rows = await fetch(session, _HOLDERS, {"scope": scope,
                                           "kinds": sorted({kind for kind, _ in keys}),
                                           "values": sorted({value for _, value in keys})})
    for kind, value, return_id in rows:
        if (kind, value) in keys:
            found[(kind, value)].append(return_id)
    return found


async def of_returns(session: AsyncSession, return_ids: Iterable[int]
                     ) -> dict[int, list[Reference]]:
    """Every reference of each return (any scope)."""
    ids = list(set(return_ids))
    found: dict[int, list[Reference]] = defaultdict(list)
    if not ids:
        return found
    statement = select(_REFS.c.return_id, _REFS.c.kind, _REFS.c.value, _REFS.c.source).where(
        _REFS.c.return_id.in_(ids)).order_by(_REFS.c.id)
    for return_id, kind, value, source in (await session.execute(statement)).all():
        found[return_id].append(Reference(kind, value, source))
    return found


async def link(session: AsyncSession, links: Iterable[tuple[str, int, Reference]],
               now: datetime) -> None:
    """Give each return its references, ``(scope, return id, reference)``, in one
    statement; one another return already holds is left to it."""
    rows = [{"scope": scope, "kind": ref.kind, "value": ref.value,
             "slot": slot_of(ref.kind, return_id), "return_id": return_id,
             "source": ref.source, "created_at": now} for scope, return_id, ref in links]
    if rows:
        await execute_many(session, insert_ignoring(session, _REFS, *_KEY_COLUMNS), rows)


async def move(session: AsyncSession, from_id: int, to_id: int) -> None:
    """Hand every reference of ``from_id`` to ``to_id`` (a merge); an order-level one the
    target already holds is dropped."""
    theirs = await of_returns(session, [to_id])
    held = {ref.key for ref in theirs.get(to_id, [])}
    dropped = [key for key in held if key[0] in SHARED_KINDS]
    for kind, value in dropped:
        await session.execute(delete(_REFS).where(
            _REFS.c.return_id == from_id, _REFS.c.kind == kind, _REFS.c.value == value))
    await session.execute(update(_REFS).where(_REFS.c.return_id == from_id,
                                              _REFS.c.kind.in_(sorted(SHARED_KINDS)))
                          .values(return_id=to_id, slot=to_id))
    await session.execute(update(_REFS).where(_REFS.c.return_id == from_id)
                          .values(return_id=to_id))


_DECISIONS_FOR = select(_DECISIONS.c.inbox_event_id, _DECISIONS.c.return_id).where(
    _DECISIONS.c.inbox_event_id.in_(bindparam("ids", expanding=True)))


async def decisions(session: AsyncSession, inbox_ids: Iterable[int]) -> dict[int, int | None]:
    """Operators' answers for these inbox events: the chosen return, None for a new one."""
    ids = list(inbox_ids)
    if not ids:
        return {}
    return dict(await fetch(session, _DECISIONS_FOR, {"ids": ids}))


async def decide(session: AsyncSession, inbox_id: int, return_id: int | None,
                 token_name: str, now: datetime) -> None:
    """Record an operator's answer (replacing an earlier one for the same event)."""
    await session.execute(delete(_DECISIONS).where(_DECISIONS.c.inbox_event_id == inbox_id))
    await session.execute(_DECISIONS.insert().values(
        inbox_event_id=inbox_id, return_id=return_id, token_name=token_name, decided_at=now))


async def applied_inbox_ids(session: AsyncSession, return_ids: Iterable[int]) -> set[int]:
    """The inbox events applied to these returns, whichever source sent them (their timeline
    names them): privacy erasure and export must reach an ERP's or a merged return's events,
    not only those under the return's own (source, external id)."""
    ids = list(set(return_ids))
    if not ids:
        return set()
    timeline = TimelineEntry.__table__
    return set((await session.execute(select(timeline.c.inbox_event_id).where(
        timeline.c.return_id.in_(ids), timeline.c.inbox_event_id.is_not(None))
        .distinct())).scalars())


async def inbox_events_about(session: AsyncSession, returns: Sequence[Return],
                             what: Any = InboxEvent) -> list[Any]:
    """Every inbox event about ``returns``, in id order: those each return's own source sent
    under its reference, and every system's applied to them (:func:`applied_inbox_ids`).
    ``what``: the rows (default) or one column of them (``InboxEvent.id``)."""
    if not returns:
        return []
    applied = await applied_inbox_ids(session, [ret.id for ret in returns])
    own = tuple_(InboxEvent.source, InboxEvent.return_ref).in_(
        sorted({(ret.source, ret.external_id) for ret in returns}))
    return list((await session.execute(select(what).where(own | InboxEvent.id.in_(applied))
                                       .order_by(InboxEvent.id))).scalars())


async def returns_by_own_id(session: AsyncSession, source: str,
                           external_id: str) -> Return | None:
    """The return holding ``source``'s own id ``external_id`` (kind ``id``, any scope), or
    None: how a link or key naming a merged-away return still finds its return."""
    return_id = (await session.execute(select(_REFS.c.return_id).where(
        _REFS.c.kind == OWN_ID, _REFS.c.value == f"{source}:{external_id.strip()}",
        _REFS.c.slot == 0).limit(1))).scalar_one_or_none()
    return None if return_id is None else await session.get(Return, return_id)


#: Takes the transaction-scoped advisory locks in ascending order (no deadlock between two
#: batches wanting overlapping sets).
_ADVISORY_LOCKS = text("SELECT count(pg_advisory_xact_lock(k)) FROM "
                       "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS ordered")


async def lock(session: AsyncSession, scope: str, refs: Iterable[Reference]) -> None:
    """Hold, until the transaction ends, a lock on each reference a batch is about to look
    up (PostgreSQL advisory locks): two workers applying two systems' events of one return
    at once would otherwise both find nothing and both create it. SQLite needs none: its
    write transactions are serialized."""
    if session.bind.dialect.name != "postgresql":
        return
    keys = sorted({_lock_key(scope, ref) for ref in refs})
    if keys:
        await session.execute(_ADVISORY_LOCKS, {"keys": keys})


def _lock_key(scope: str, ref: Reference) -> int:
    digest = hashlib.blake2b(f"{scope}\x1f{ref.kind}\x1f{ref.value}".encode(),
                             digest_size=8, person=b"rh-refs").digest()
    return int.from_bytes(digest, "big", signed=True)
