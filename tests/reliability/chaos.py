"""The chaos run: ingress and worker processes SIGKILLed at random, PostgreSQL restarted
mid-run, the primary email provider down for a while and the secondary answering slowly,
Twilio's message list (and fetch) answering 503 for a while, and every provider accepting a
share of the messages and then answering 503 or resetting the connection, while N signed
webhooks are posted by a client that retries whatever was not acknowledged (as the platforms
do). Lost, duplicated and unexpected deliveries are counted from the fakes' records, per
channel and per event (``tests/reliability/chaos_counts.py``).

"lost" counts the notifications the hub planned that no fake ever accepted, plus the
notifications never planned at all (two per acknowledged event are expected). Every
notification that did not end ``sent``/``delivered`` is listed under ``unfinished`` (the first
few, with their delivery attempts, whether a fake had it after all and what the hub processes
logged about it), so a failed run says why. No recipient appears in the report.

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
from hub.store.models import Notification, Return
from hub.testing.factories import customer, event_payload
from tests.conftest import TEST_SECRET, create_pg_database, drop_pg_database, signed_headers
from tests.reliability.chaos_counts import channel_counts, event_counts, summary, unexplained_ids
from tests.reliability.chaos_diagnostics import (
    UNFINISHED_SHOWN,
    notifications_named,
    outcome_summary,
    unfinished_notifications,
)
from tests.reliability.support import (
    listening_url,
    log_events,
    message_counts,
    receptions,
    returnhub,
    start_fake,
    stop_all,
)

TERMINAL = ("sent", "delivered", "failed", "dead", "bounced", "expired")
#: The channels the ``approved`` stage names, and the fakes behind each.
CHANNEL_FAKES = {"email": ("sg", "md"), "sms": ("tw",)}
#: The share of accepted messages whose answer each fake loses (503 or a reset, at random).
ANSWER_LOSS_RATE = 0.03
#: Lease seconds of the run's workers: a worker killed after its provider accepted a message
#: leaves it to be sent again once this has passed.
LEASE_SECONDS = 3
#: Twilio's list goes down at the second step and comes back once it has been down this many
#: seconds and has refused this many lookups (so that reconciles do meet the outage however
#: the run's timing falls), or after LOOKUPS_DOWN_SECONDS_AT_MOST in any case: 60 s, since
#: reconciles are claimed ahead of the texts queued first (worker.recovery_share); 120 s while
#: they came due only after that backlog.
LOOKUPS_DOWN_SECONDS = 5.0
LOOKUPS_REFUSED_AT_LEAST = 10
LOOKUPS_DOWN_SECONDS_AT_MOST = 60.0
#: Texts per phone number: all on one number, so that a reconcile pages through Twilio's list
#: (100 a page). Reconciles are claimed ahead of the queued texts (worker.recovery_share): with
#: 250 texts a number, one came due before a page of later texts had gone to its number.
SMS_PER_NUMBER = 1000
#: How long PostgreSQL stays down at its restart: past a lease, so that the leases of the
#: sends in flight run out while their workers live (a managed database's failover takes a
#: minute or two, against the default lease of 60 s).
DATABASE_DOWN_SECONDS = 2 * LEASE_SECONDS
#: PostgreSQL goes down once the fakes have accepted this share of the messages.
RESTART_AFTER_ACCEPTED = 0.1


def restart_postgres() -> None:
    """Restart the local PostgreSQL cluster (as the machine's services are started): down for
    DATABASE_DOWN_SECONDS, longer than a lease, as a managed database's failover is."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    for action in ("stop", "start"):
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
                       check=True, capture_output=True, timeout=120)
        if action == "stop":
            time.sleep(DATABASE_DOWN_SECONDS)  # the outage itself, not a wait for a condition


def config_text(work: Path, db_url: str, fakes: dict[str, dict], log_level: str = "ERROR"
                ) -> str:
    return f"""
data_dir = "{work / 'data'}"
[server]
port = 0
[database]
url = "{db_url}"
pool_size = 4
[logging]
format = "json"
level = "{log_level}"
[security]
pii_keys = ["{generate_fernet_key()}"]
lookup_key = "chaos-lookup"
outbound_allow = ["127.0.0.0/8"]
[worker]
lease_seconds = {LEASE_SECONDS}
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
reconcile_seconds = 2
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
    return {"acked": len(bodies) - len(pending), "posts": sum(tries.values()),
            "acked_ids": sorted(set(bodies) - pending)}


def kill_times(chaos_at: dict[str, list[float]]) -> list[float]:
    """When a worker was killed or exited, seconds since the run's start."""
    return chaos_at.get("worker_kills", []) + chaos_at.get("worker_exits", [])


async def set_faults(url: str, faults: dict) -> None:
    async with aiohttp.ClientSession() as session:
        await session.post(f"{url}/__fake__/faults", data=json.dumps(faults))


async def fake_stats(url: str) -> dict[str, int]:
    """A fake's counters: requests, records, lost answers, lookups refused."""
    async with aiohttp.ClientSession() as session, \
            session.get(f"{url}/__fake__/stats") as answer:
        return await answer.json()


async def run(events: int, work: Path, seed: int = 7, budget: float = 600.0,
              log_level: str = "ERROR") -> dict:
    """One chaos run; returns the counts."""
    rng = random.Random(seed)
    origin = time.time()  # report times are seconds since then
    chaos_at: dict[str, list[float]] = {}

    def happened(what: str) -> None:
        chaos[what] += 1
        chaos_at.setdefault(what, []).append(round(time.time() - origin, 2))
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
    config.write_text(config_text(work, db_url, fakes, log_level))
    chaos = Counter()
    started = time.monotonic()
    try:
        upgrade = returnhub(config, "db", "upgrade", log=logs)
        upgrade.wait(120)
        ingress = [returnhub(config, "serve", "--no-workers", log=logs) for _ in range(2)]
        urls = [listening_url(p) for p in ingress]
        workers = [returnhub(config, "worker", log=logs) for _ in range(2)]
        processes += ingress + workers

        def restart(pool: list[subprocess.Popen], label: str, index: int) -> None:
            if label == "ingress":
                pool[index] = returnhub(config, "serve", "--no-workers", log=logs)
                try:
                    urls[index] = listening_url(pool[index])
                except RuntimeError:  # it exited at start-up: started again at the next step
                    pool[index].wait(10)
            else:
                pool[index] = returnhub(config, "worker", log=logs)
            processes.append(pool[index])

        # Customers share phone numbers (SMS_PER_NUMBER texts each), so that finding one text
        # in Twilio's list means paging past the others sent to the same number.
        numbers = max(1, events // SMS_PER_NUMBER)
        bodies = {f"chaos-{n}": json.dumps(event_payload(
            "return.approved", f"R-chaos-{n}",
            customer=customer(n, phone=f"+1415556{n % numbers:04d}"))).encode()
            for n in range(events)}
        await set_faults(fakes["md"]["url"], {"latency": 0.3})  # the secondary is slow
        for offset, key in enumerate(("sg", "md", "tw")):
            await set_faults(fakes[key]["url"], {"fail_after_accept": {
                "rate": ANSWER_LOSS_RATE, "mode": "mixed", "seed": seed + offset}})
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

        async def accepted_so_far() -> int:
            return sum([(await fake_stats(fake["url"]))["records"] for fake in fakes.values()])

        step = 0
        lookups_down_since = 0.0
        while time.monotonic() - started < budget:
            await asyncio.sleep(rng.uniform(0.4, 1.0))
            step += 1
            # The outage, the restart and some kills always happen, early, while the first
            # events are still in flight; then kills go on until everything is delivered.
            if "sms_lookups_up" in chaos and step > 6 and stop.is_set() \
                    and await finished() >= 2 * events:
                break
            if step == 1:
                await set_faults(fakes["sg"]["url"], {"fail_next": {"count": 10**6,
                                                                   "status": 503}})
                happened("primary_down")
            elif step == 5:  # (not a reset: the answer losses go on)
                await set_faults(fakes["sg"]["url"], {"fail_next": {"count": 0}})
                happened("primary_up")
            elif step >= 3 and "postgres_restarts" not in chaos \
                    and await accepted_so_far() >= RESTART_AFTER_ACCEPTED * 2 * events:
                # Once messages are flowing, so that sends are in flight when it goes down.
                happened("postgres_restarts")
                await asyncio.to_thread(restart_postgres)  # the posts go on meanwhile
            elif step < 30:
                pool, label = ((ingress, "ingress") if step % 2 else (workers, "worker"))
                victim = rng.randrange(len(pool))
                pool[victim].kill()
                pool[victim].wait(10)
                restart(pool, label, victim)
                happened(f"{label}_kills")
            if step == 2:
                await set_faults(fakes["tw"]["url"], {"lookups_down": True})
                happened("sms_lookups_down")
                lookups_down_since = time.monotonic()
            elif step > 2 and "sms_lookups_up" not in chaos:
                down_for = time.monotonic() - lookups_down_since
                refused = (await fake_stats(fakes["tw"]["url"]))["lookups_refused"]
                if (down_for >= LOOKUPS_DOWN_SECONDS and refused >= LOOKUPS_REFUSED_AT_LEAST) \
                        or down_for >= LOOKUPS_DOWN_SECONDS_AT_MOST:
                    await set_faults(fakes["tw"]["url"], {"lookups_down": False})
                    happened("sms_lookups_up")
            # A node that exited on its own (one restarted while PostgreSQL was down fails its
            # start-up) is started again, as its supervisor would.
            for pool, label in ((ingress, "ingress"), (workers, "worker")):
                for index, process in enumerate(pool):
                    if process.poll() is not None:
                        restart(pool, label, index)
                        happened(f"{label}_exits")
        posted = await poster
        provider_stats = {key: await fake_stats(fake["url"]) for key, fake in fakes.items()}
        # Every send is over: what the fakes hold now is final, and the outbox can still say
        # how each unexplained copy came about.
        unexplained = unexplained_ids(
            receptions(*(work / f"{key}.jsonl" for keys in CHANNEL_FAKES.values()
                         for key in keys)),
            kill_times(chaos_at), origin, LEASE_SECONDS)
        async with sessions() as session:
            statuses = Counter((await session.execute(select(Notification.status))).scalars())
            known = set((await session.execute(select(Notification.id))).scalars())
            unfinished_count, unfinished = await unfinished_notifications(session, origin)
            duplicated = await notifications_named(session, unexplained, origin)
            outcomes = await outcome_summary(session)
            planned = (await session.execute(
                select(Notification.id, Notification.channel, Return.external_id)
                .join(Return, Return.id == Notification.return_id))).all()
        await engine.dispose()
    finally:
        stop_all(processes)
        await drop_pg_database(name)
    emails = message_counts(work / "sg.jsonl", work / "md.jsonl")
    texts = message_counts(work / "tw.jsonl")
    accepted = receptions(work / "sg.jsonl", work / "md.jsonl", work / "tw.jsonl")
    logged, logged_about = log_events(logs)
    # Lost: planned but accepted by no fake, or never planned (2 per acknowledged event).
    # Counted by id, so an unexpected id (or a record without one) cannot hide a lost one.
    never_accepted = sorted(known - set(emails) - set(texts))
    never_planned = max(0, 2 * posted["acked"] - len(known))
    # Per channel: lost, duplicated and why (tests/reliability/chaos_counts.py).
    channels = {channel: channel_counts(
        {n.id for n in planned if n.channel == channel},
        receptions(*(work / f"{key}.jsonl" for key in keys)), kill_times(chaos_at), origin,
        LEASE_SECONDS)
        for channel, keys in CHANNEL_FAKES.items()}
    # Per event: delivered on every channel of its stage.
    per_event = event_counts(
        {event_id: f"R-{event_id}" for event_id in posted.pop("acked_ids")},
        [(n.id, n.channel, n.external_id) for n in planned],
        {"email": set(emails), "sms": set(texts)}, CHANNEL_FAKES)
    for item in unfinished + duplicated:
        item["accepted_by_fakes"] = [
            {"provider": copy.provider, "at": round(copy.at - origin, 2),
             "answer_lost": copy.answer_lost} for copy in accepted.get(item["id"], [])]
        item["logged"] = logged_about.get(item["id"], [])[:10]
    return {
        "events": events, "seconds": round(time.monotonic() - started, 1), **posted,
        "chaos": dict(chaos), "chaos_at": chaos_at, "notifications": dict(statuses),
        "emails": len(emails), "texts": len(texts),
        "lost": len(never_accepted) + never_planned,
        "lost_ids": never_accepted[:UNFINISHED_SHOWN], "never_planned": never_planned,
        "unexpected": len((set(emails) | set(texts)) - known),
        "duplicate_emails": sum(n - 1 for n in emails.values() if n > 1),
        "duplicate_texts": sum(n - 1 for n in texts.values() if n > 1),
        "channels": channels, "per_event": per_event, "fakes": provider_stats,
        "dead_letters": statuses.get("dead", 0),
        "unfinished_count": unfinished_count, "unfinished": unfinished,
        "unexplained_duplicates": duplicated,
        "notification_outcomes": outcomes,
        "log_events": dict(logged.most_common()),
    }


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=900.0, help="seconds at most")
    parser.add_argument("--log-level", default="ERROR",
                        help="the hub processes' log level (their log is processes.log)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="work in DIR (a new one) and keep it: the fakes' records and "
                             "processes.log")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run(args.events, args.keep, args.seed, args.budget, args.log_level))
    else:
        with tempfile.TemporaryDirectory(prefix="returnhub-chaos-") as work:
            report = asyncio.run(run(args.events, Path(work), args.seed, args.budget,
                                     args.log_level))
    print(json.dumps(report, indent=2))
    print(summary(report))


if __name__ == "__main__":
    main()
