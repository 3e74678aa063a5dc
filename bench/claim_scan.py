"""What a dispatcher claim costs when the outbox holds many ``sent`` rows (sinks without
delivery receipts leave their messages ``sent`` for good).

Fills a scratch database, migrated to head, with ``--sent`` notifications in status ``sent``
(``receipt_due_at`` NULL, or for ``--awaiting`` of them a day ahead; ``--status delivered``
makes them delivered instead) and ``--due`` ones whose receipt deadline passed, then runs
:meth:`hub.store.outbox.Outbox.claim` as the dispatcher does. Prints the plan of each lane's
claim statement, as the claim sent it (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN (ANALYZE,
BUFFERS)`` in a rolled-back transaction on PostgreSQL) and its median time alone (rolled
back), then the median time of a whole claim (its transaction, the campaign lane too when the
transactional one found nothing, the claimed rows' load) that finds the due rows, and of one
that finds nothing.

Run: ``python -m bench.claim_scan --db sqlite postgres [--sent 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import event, insert, update

from hub.store.engine import make_engine, make_sessionmaker, utcnow
from hub.store.migrate import upgrade
from hub.store.models import Notification, Return
from hub.store.outbox import Outbox

PG_ADMIN_DSN = os.environ.get("RETURNHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Notifications per return (stages of one return, on one channel).
PER_RETURN = 4


def _rows(sent: int, awaiting: int, due: int, status: str
          ) -> tuple[list[dict], list[dict]]:
    now = utcnow()
    returns, notifications = [], []
    for i in range(sent + due):
        if i % PER_RETURN == 0:
            returns.append({"id": len(returns) + 1, "source": "shop",
                            "external_id": f"R-{len(returns) + 1}", "state": "refunded",
                            "cycle": 0, "exception_flag": False, "created_at": now,
                            "updated_at": now})
        deadline = (now - timedelta(minutes=1) if i >= sent
                    else now + timedelta(days=1) if i < awaiting else None)
        created = now - timedelta(days=30) + timedelta(seconds=i)
        notifications.append({
            "id": str(uuid.UUID(int=i)), "idempotency_key": f"k-{i}", "return_id": len(returns),
            "inbox_event_id": i, "stage": f"stage-{i % PER_RETURN}", "channel": "email",
            "category": "transactional", "template": "approved",
            "status": status if i < sent else "sent",
            "attempts": 1, "next_attempt_at": created, "event_received_at": created,
            "receipt_due_at": deadline, "tried_providers": ["outbox"], "created_at": created,
            "sent_at": created, "provider": "outbox", "priority": 0})
    return returns, notifications


async def _fill(engine, sent: int, awaiting: int, due: int, status: str  # noqa: ANN001
                ) -> list[str]:
    returns, notifications = _rows(sent, awaiting, due, status)
    async with engine.begin() as connection:
        for start in range(0, len(returns), 5000):
            await connection.execute(insert(Return.__table__), returns[start:start + 5000])
        for start in range(0, len(notifications), 5000):
            await connection.execute(insert(Notification.__table__),
                                     notifications[start:start + 5000])
    if engine.dialect.name == "postgresql":  # as autovacuum would; the hub never analyzes SQLite
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE notifications")
    return [row["id"] for row in notifications[sent:]]


async def _reset(engine, due_ids: list[str]) -> None:  # noqa: ANN001
    table = Notification.__table__
    async with engine.begin() as connection:
        await connection.execute(update(table).where(table.c.id.in_(due_ids)).values(
            status="sent", lease_owner=None, lease_until=None))


async def _claim(outbox: Outbox) -> int:
    return len(await outbox.claim(32, spare=lambda free, busy: 0 if busy else free, ahead=8))


async def _statements(engine, outbox: Outbox) -> list[tuple[str, object]]:  # noqa: ANN001
    """The statements (and parameters) one claim sends, as the driver got them."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        if statement.lstrip().upper().startswith(("WITH", "UPDATE")):  # not the rows' load
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await _claim(outbox)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def _explain(engine, statement: str, parameters: object) -> str:  # noqa: ANN001
    explain = ("EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite"
               else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ")
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            result = await connection.exec_driver_sql(explain + statement, parameters)
            rows = result.all()
        finally:
            await transaction.rollback()
    if engine.dialect.name == "sqlite":
        return "\n".join(f"{row[0]:>3} {row[1]:>3} {row[3]}" for row in rows)
    return "\n".join(row[0] for row in rows)


async def _statement_time(engine, statement: str, parameters: object,  # noqa: ANN001
                          runs: int) -> float:
    """The median time of ``statement`` alone, each run rolled back (the rows stay due)."""
    times = []
    async with engine.connect() as connection:
        for _ in range(runs):
            transaction = await connection.begin()
            began = time.perf_counter()
            (await connection.exec_driver_sql(statement, parameters)).all()
            times.append(time.perf_counter() - began)
            await transaction.rollback()
    return statistics.median(times) * 1000


async def _median(runs: int, step) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        times.append(await step())
    return statistics.median(times) * 1000


async def measure(url: str, args: argparse.Namespace) -> None:
    sent, awaiting, due, runs = args.sent, args.awaiting, args.due, args.runs
    engine = make_engine(url, synchronous="NORMAL")
    try:
        await upgrade(engine)
        started = time.perf_counter()
        due_ids = await _fill(engine, sent, awaiting, due, args.status)
        print(f"filled {sent} {args.status} ({awaiting} awaiting a receipt) + {due} due "
              f"in {time.perf_counter() - started:.1f} s")
        outbox = Outbox(make_sessionmaker(engine), "bench", 60)
        # The transactional lane's statement finding the due rows, then (the due rows
        # leased) both lanes' finding nothing, each explained with the due rows to claim.
        statements = await _statements(engine, outbox)
        statements += (await _statements(engine, outbox))[-1:]
        await _reset(engine, due_ids)
        for label, (statement, parameters) in zip(("transactional", "campaign"), statements,
                                                  strict=True):
            print(f"--- {label} lane ---\n{await _explain(engine, statement, parameters)}")
            print(f"{label} lane statement alone: median "
                  f"{await _statement_time(engine, statement, parameters, runs):.2f} ms of {runs}")

        async def finding_due() -> float:
            await _reset(engine, due_ids)
            began = time.perf_counter()
            claimed = await _claim(outbox)
            assert claimed == due, claimed
            return time.perf_counter() - began

        async def finding_nothing() -> float:
            began = time.perf_counter()
            assert await _claim(outbox) == 0
            return time.perf_counter() - began

        print(f"claim finding {due} due: median {await _median(runs, finding_due):.2f} ms "
              f"of {runs}")
        print(f"claim finding nothing: median {await _median(runs, finding_nothing):.2f} ms "
              f"of {runs}")
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    for db in args.db:
        print(f"=== {db} ===")
        if db == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                await measure(f"sqlite+aiosqlite:///{Path(folder) / 'hub.db'}", args)
            continue
        name = f"returnhub_claimscan_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.pg_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
            base = args.pg_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            await measure(f"{base}/{name}", args)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"])
    parser.add_argument("--sent", type=int, default=100_000)
    parser.add_argument("--awaiting", type=int, default=1_000,
                        help="of the sent rows, how many still await a receipt (deadline ahead)")
    parser.add_argument("--status", choices=("sent", "delivered"), default="sent",
                        help="the status of the --sent rows")
    parser.add_argument("--due", type=int, default=5)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pg-dsn", default=PG_ADMIN_DSN)
    asyncio.run(main(parser.parse_args()))
