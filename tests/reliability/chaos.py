"""The chaos run: ingress and worker processes SIGKILLed at random, PostgreSQL restarted
mid-run, the primary email provider down for a while and the secondary answering slowly, while
N signed webhooks are posted by a client that retries whatever was not acknowledged (as the
platforms do). Lost, duplicated and unexpected deliveries are counted from the fakes' records.

Run on its own (the full size)::

    .venv/bin/python -m tests.reliability.chaos --events 10000

``tests/reliability/test_chaos.py`` runs a short version in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from hub.security import generate_fernet_key
from hub.store.engine import make_engine, make_sessionmaker
from hub.store.models import Notification
from hub.testing.factories import event_payload
from tests.conftest import TEST_SECRET, create_pg_database, drop_pg_database, signed_headers
from tests.reliability.support import (
    listening_url,
    message_counts,
    returnhub,
    start_fake,
    stop_all,
)

TERMINAL = ("sent", "delivered", "failed", "dead", "bounced", "expired")


def restart_postgres() -> None:
    """Restart the local PostgreSQL cluster (as the machine's services are started)."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                   check=True, capture_output=True, timeout=120)


def config_text(work: Path, db_url: str, fakes: dict[str, dict]) -> str:
    return f"""
data_dir = "{work / 'data'}"
[server]
port = 0
[database]
url = "{db_url}"
pool_size = 4
[logging]
format = "json"
level = "ERROR"
[security]
pii_keys = ["{generate_fernet_key()}"]
lookup_key = "chaos-lookup"
outbound_allow = ["127.0.0.0/8"]
[worker]
lease_seconds = 3
idle_poll_seconds = 0.05
retry_base_seconds = 0.2
retry_max_seconds = 2
send_timeout_seconds = 4
max_attempts = 30
batch_size = 100
concurrency = 48
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.sg]
type = "sendgrid"
api_key = "SG.fake-key"
base_url = "{fakes['sg']['url']}"
breaker_failure_threshold = 3
breaker_cooldown_seconds = 1
[sinks.md]
type = "mailchimp_transactional"
api_key = "md-fake-key"
base_url = "{fakes['md']['url']}/api/1.3"
[sinks.tw]
type = "twilio_sms"
account_sid = "AC{'0' * 32}"
auth_token = "fake-token"
from_number = "+15005550006"
base_url = "{fakes['tw']['url']}"
[channels.email]
providers = ["sg", "md"]
[channels.sms]
providers = ["tw"]
reconcile_seconds = 2
[notifications.stages.approved]
channels = ["email", "sms"]
"""


async def post_until_acked(urls: list[str], bodies: dict[str, bytes], stop: asyncio.Event,
                           deadline: float) -> dict[str, int]:
    """Post every body until acknowledged, retrying like a platform does."""
    pending = set(bodies)
    tries = Counter()
    semaphore = asyncio.Semaphore(32)
    rng = random.Random(1)

    async def one(session: aiohttp.ClientSession, msg_id: str) -> None:
        async with semaphore:
            tries[msg_id] += 1
            try:
                async with session.post(f"{rng.choice(urls)}/webhooks/shop",
                                        data=bodies[msg_id],
                                        headers=signed_headers(bodies[msg_id], msg_id)) as answer:
                    if answer.status in (200, 202):
                        pending.discard(msg_id)
            except (aiohttp.ClientError, TimeoutError):
                pass

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        while pending and time.monotonic() < deadline:
            await asyncio.gather(*(one(session, m) for m in list(pending)))
            if pending:
                await asyncio.sleep(0.5)
    stop.set()
    return {"acked": len(bodies) - len(pending), "posts": sum(tries.values())}


async def set_faults(url: str, faults: dict) -> None:
    async with aiohttp.ClientSession() as session:
        await session.post(f"{url}/__fake__/faults", data=json.dumps(faults))


async def run(events: int, work: Path, seed: int = 7, budget: float = 600.0) -> dict:
    """One chaos run; returns the counts."""
    rng = random.Random(seed)
    logs = work / "processes.log"
    name = await create_pg_database()
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    processes = []
    fakes = {}
    for key, module, extra in (("sg", "fake_sendgrid", ()), ("md", "fake_mandrill", ()),
                               ("tw", "fake_twilio", ())):
        process, announcement = start_fake(module, work / f"{key}.jsonl", logs, *extra)
        processes.append(process)
        fakes[key] = announcement
    config = work / "hub.toml"
    config.write_text(config_text(work, db_url, fakes))
    chaos = Counter()
    started = time.monotonic()
    try:
        upgrade = returnhub(config, "db", "upgrade", log=logs)
        upgrade.wait(120)
        ingress = [returnhub(config, "serve", "--no-workers", log=logs) for _ in range(2)]
        urls = [listening_url(p) for p in ingress]
        workers = [returnhub(config, "worker", log=logs) for _ in range(2)]
        processes += ingress + workers
        bodies = {f"chaos-{n}": json.dumps(event_payload(
            "return.approved", f"R-chaos-{n}")).encode() for n in range(events)}
        await set_faults(fakes["md"]["url"], {"latency": 0.3})  # the secondary is slow
        stop = asyncio.Event()
        poster = asyncio.create_task(post_until_acked(urls, bodies, stop,
                                                      started + budget * 0.6))
        engine = make_engine(db_url, pool_size=2)
        sessions = make_sessionmaker(engine)

        async def finished() -> int:
            try:
                async with sessions() as session:
                    return (await session.execute(select(func.count()).select_from(
                        Notification).where(Notification.status.in_(TERMINAL)))).scalar_one()
            except (DBAPIError, OSError):
                return -1

        step = 0
        while time.monotonic() - started < budget:
            await asyncio.sleep(rng.uniform(0.4, 1.0))
            step += 1
            # The outage, the restart and some kills always happen, early, while the first
            # events are still in flight; then kills go on until everything is delivered.
            if step > 6 and stop.is_set() and await finished() >= 2 * events:
                break
            if step == 1:
                await set_faults(fakes["sg"]["url"], {"fail_next": {"count": 10**6,
                                                                   "status": 503}})
                chaos["primary_down"] += 1
            elif step == 3:
                restart_postgres()
                chaos["postgres_restarts"] += 1
            elif step == 5:
                await set_faults(fakes["sg"]["url"], {"reset": True})
            elif step < 30:
                pool, label = ((ingress, "ingress") if step % 2 else (workers, "worker"))
                victim = rng.randrange(len(pool))
                pool[victim].kill()
                pool[victim].wait(10)
                if label == "ingress":
                    pool[victim] = returnhub(config, "serve", "--no-workers", log=logs)
                    urls[victim] = listening_url(pool[victim])
                else:
                    pool[victim] = returnhub(config, "worker", log=logs)
                processes.append(pool[victim])
                chaos[f"{label}_kills"] += 1
        posted = await poster
        async with sessions() as session:
            statuses = Counter((await session.execute(select(Notification.status))).scalars())
            known = set((await session.execute(select(Notification.id))).scalars())
        await engine.dispose()
    finally:
        stop_all(processes)
        await drop_pg_database(name)
    emails = message_counts(work / "sg.jsonl", work / "md.jsonl")
    texts = message_counts(work / "tw.jsonl")
    return {
        "events": events, "seconds": round(time.monotonic() - started, 1), **posted,
        "chaos": dict(chaos), "notifications": dict(statuses),
        "emails": len(emails), "texts": len(texts),
        "lost": 2 * events - len(emails) - len(texts),
        "unexpected": len((set(emails) | set(texts)) - known),
        "duplicate_emails": sum(n - 1 for n in emails.values() if n > 1),
        "duplicate_texts": sum(n - 1 for n in texts.values() if n > 1),
    }


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds at most")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="returnhub-chaos-") as work:
        report = asyncio.run(run(args.events, Path(work), args.seed, args.budget))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
