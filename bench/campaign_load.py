"""Does a campaign delay transactional messages? (issue 17)

One hub (in this process, workers running) sends email through the fake SendGrid (its own
server, a fixed latency per call). ``recipients`` customers are seeded, half of them with
marketing consent. Two phases, each with the same transactional load (``events`` approvals
submitted at ``per_second``, each one email):

1. without a campaign: the baseline time to notify (event received → provider accepted);
2. with a campaign to the whole segment launched at the start, at ``campaign_rate``.

It prints p50/p95 time to notify per phase, the ratio, and how many campaign messages went
out during phase 2 (and, with ``--finish``, waits for the whole campaign and checks every
consenting customer got exactly one message). See docs/campaigns.md.

    .venv/bin/python bench/campaign_load.py                      # 20,000 recipients, SQLite
    .venv/bin/python bench/campaign_load.py --db postgres --finish
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hub.campaigns import service
from hub.config import Settings
from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.security import generate_fernet_key
from hub.store.engine import utcnow
from hub.store.models import Notification, Return
from hub.testing.campaign_seed import seed_customers
from hub.testing.factories import event_payload
from hub.testing.fake_sendgrid import FakeSendGrid

FILTER = 'state in ["refunded", "exchange_shipped"]'


@dataclass(slots=True)
class PhaseResult:
    """Time to notify of one phase's transactional messages, in milliseconds."""

    events: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    campaign_sent: int
    #: Received -> planned in the outbox (the inbox side of the wait).
    planned_p50_ms: float = 0.0
    planned_p95_ms: float = 0.0


@dataclass(slots=True)
class Wait:
    """One transactional message's time to notify, and the part of it until it was planned."""

    total: float
    planned: float


@dataclass(slots=True)
class Result:
    """Both phases and the relation asked for (p95 with / p95 without)."""

    recipients: int
    audience: int
    baseline: PhaseResult
    with_campaign: PhaseResult
    ratio_p95: float
    campaign_total_sent: int | None = None
    campaign_duplicates: int | None = None


def settings(data: Path, db_url: str, sendgrid: FakeSendGrid, concurrency: int,
             share: float = 0.1) -> Settings:
    """Email through the fake SendGrid only; ``approved`` sends one email."""
    return Settings(
        data_dir=str(data), database={"url": db_url, "sqlite_synchronous": "NORMAL"},
        security={"pii_keys": [generate_fernet_key()], "lookup_key": "bench-lookup-key",
                  "outbound_allow": ["127.0.0.0/8"]},
        logging={"format": "json", "level": "WARNING"},
        worker={"concurrency": concurrency,
                "retry_base_seconds": 0.05, "retry_max_seconds": 0.5},
        campaigns={"batch_size": 100, "poll_seconds": 0.1, "share": share},
        sources={"shop": {"type": "standard_webhooks", "secret": "whsec_" + "A" * 32}},
        sinks={"sg": {"type": "sendgrid", "api_key": "SG.fake-key", "base_url": sendgrid.url,
                      "webhook_public_key": sendgrid.public_key_b64}},
        channels={"email": {"providers": ["sg"]}},
        notifications={"stages": {"approved": {"channels": ["email"]}}},
    )


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def transactional_waits(hub: Hub, prefix: str, events: int, per_second: float,
                              limit_seconds: float = 120) -> list[Wait]:
    """Submit ``events`` approvals at ``per_second``; wait until each one's email is sent;
    each one's time to notify (received -> provider accepted), in milliseconds."""
    started = time.monotonic()
    for n in range(events):
        event = ReturnEvent.model_validate({
            **event_payload("return.approved", f"{prefix}-{n}"), "source": "shop",
            "source_event_id": f"{prefix}-{n}"})
        await hub.inbox.submit([event], utcnow())
        # Open-loop load: the next event arrives on schedule, however the hub is doing.
        await asyncio.sleep(max(0.0, started + (n + 1) / per_second - time.monotonic()))
    notifications, returns = Notification.__table__.c, Return.__table__.c
    mine = (select(notifications.event_received_at, notifications.sent_at,
                   notifications.created_at)
            .join_from(Notification.__table__, Return.__table__,
                       returns.id == notifications.return_id)
            .where(returns.external_id.like(f"{prefix}-%"), notifications.campaign_id.is_(None)))
    deadline = time.monotonic() + limit_seconds
    while True:
        async with hub.sessionmaker() as session:
            rows = (await session.execute(mine)).all()
        if len(rows) == events and all(sent is not None for _, sent, _ in rows):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{prefix}: {sum(s is not None for _, s, _ in rows)} of {events} "
                               "transactional emails sent")
        await asyncio.sleep(0.1)
    return [Wait(total=(sent - received).total_seconds() * 1000,
                 planned=(planned - received).total_seconds() * 1000)
            for received, sent, planned in rows]


def phase_result(waits: list[Wait], campaign_sent: int) -> PhaseResult:
    """One side's figures from its pooled times to notify."""
    totals = [w.total for w in waits]
    planned = [w.planned for w in waits]
    return PhaseResult(events=len(waits), p50_ms=round(percentile(totals, 0.5), 1),
                       p95_ms=round(percentile(totals, 0.95), 1), max_ms=round(max(totals), 1),
                       campaign_sent=campaign_sent,
                       planned_p50_ms=round(percentile(planned, 0.5), 1),
                       planned_p95_ms=round(percentile(planned, 0.95), 1))


async def sent_count(hub: Hub, campaign_id: int) -> int:
    """Campaign messages the provider accepted so far."""
    async with hub.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).where(
            Notification.campaign_id == campaign_id,
            Notification.status.in_(("sent", "delivered")))) or 0)


async def measure(db_url: str, data: Path, *, recipients: int, events: int, per_second: float,
                  campaign_rate: float = 50.0, latency: float = 0.01, concurrency: int = 32,
                  finish: bool = False, rounds: int = 1) -> Result:
    """Run both phases on a fresh database at ``db_url`` (see the module docstring).

    With ``rounds`` > 1 the phases alternate (without, with, without, with...: the campaign
    is paused between its phases), ``events`` approvals each, and each side's figures pool
    its rounds: whatever else the machine does drifts over both sides alike."""
    async with FakeSendGrid() as sendgrid:
        sendgrid.set_latency(latency)
        hub = Hub.build(settings(data, db_url, sendgrid, concurrency))
        await hub.start()
        try:
            await seed_customers(hub.sessionmaker, hub.codec, recipients, consent_every=2)
            audience = recipients // 2
            await service.create_segment(hub, "bench", FILTER)
            campaign = await service.create_campaign(
                hub, name="bench", segment="bench", template="campaigns/exchange_offer",
                channels=["email"], rate_per_second=campaign_rate, start_at=None)
            alone: list[Wait] = []
            beside: list[Wait] = []
            sent_beside = 0
            for round_no in range(rounds):
                if round_no:
                    await service.change(hub, campaign.id, "pause")
                alone += await transactional_waits(hub, f"base{round_no}", events, per_second)
                before = await sent_count(hub, campaign.id)
                await service.change(hub, campaign.id, "resume" if round_no else "launch")
                beside += await transactional_waits(hub, f"load{round_no}", events, per_second)
                sent_beside += await sent_count(hub, campaign.id) - before
            baseline = phase_result(alone, 0)
            loaded = phase_result(beside, sent_beside)
            result = Result(recipients=recipients, audience=audience, baseline=baseline,
                            with_campaign=loaded,
                            ratio_p95=round(loaded.p95_ms / baseline.p95_ms, 3))
            if finish:
                await _finish(hub, campaign.id, sendgrid, result)
            return result
        finally:
            await hub.stop()


async def _finish(hub: Hub, campaign_id: int, sendgrid: FakeSendGrid, result: Result,
                  limit_seconds: float = 1800) -> None:
    deadline = time.monotonic() + limit_seconds
    while (await service.get_campaign(hub, campaign_id))[0].status != "done":
        if time.monotonic() > deadline:
            raise TimeoutError("the campaign did not finish")
        await asyncio.sleep(0.5)
    async with hub.sessionmaker() as session:
        ids = set((await session.execute(select(Notification.id).where(
            Notification.campaign_id == campaign_id))).scalars())
    per_message = Counter(_message_id(record) for record in sendgrid.records)
    result.campaign_total_sent = sum(per_message[i] for i in ids)
    result.campaign_duplicates = sum(1 for i in ids if per_message[i] > 1)


def _message_id(record: dict[str, Any]) -> str | None:
    request = record.get("request") or {}
    args = dict(request.get("custom_args") or {})
    for personalization in request.get("personalizations") or []:
        args.update(personalization.get("custom_args") or {})
    return args.get("returnhub_message_id")


async def _postgres_url() -> tuple[str, str]:
    import asyncpg

    name = f"bench_campaign_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def _drop_postgres(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data, name = Path(folder), None
        url = f"sqlite+aiosqlite:///{data / 'hub.db'}"
        if args.db == "postgres":
            url, name = await _postgres_url()
        try:
            result = await measure(url, data / "data", recipients=args.recipients,
                                   events=args.events, per_second=args.per_second,
                                   campaign_rate=args.campaign_rate, latency=args.latency,
                                   finish=args.finish, rounds=args.rounds)
        finally:
            if name:
                await _drop_postgres(name)
    print(json.dumps({"db": args.db, **asdict(result)}, indent=2))


def main() -> None:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--per-second", type=float, default=20.0)
    parser.add_argument("--campaign-rate", type=float, default=50.0,
                        help="the campaign's send rate, messages per second")
    parser.add_argument("--latency", type=float, default=0.01,
                        help="the fake SendGrid's latency per call, seconds")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the phases this many times (the campaign paused "
                             "between its phases); each side pools its rounds")
    parser.add_argument("--finish", action="store_true",
                        help="wait for the whole campaign and count duplicates")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
