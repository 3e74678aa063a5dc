"""A campaign survives ``kill -9`` of its worker, on SQLite and PostgreSQL, through the fake
Twilio as its own process (issue 17): a worker killed mid-plan (the planning cursor part way)
and another killed mid-send (some texts accepted, others claimed) leave every consenting
customer with exactly one message, and nobody without consent with any."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.campaigns import service
from hub.config import load_settings
from hub.runtime import Hub
from hub.store.models import Notification
from hub.store.models_campaigns import Campaign
from hub.testing.campaign_seed import seed_customers
from tests.conftest import TEST_SECRET, make_settings, wait_for
from tests.reliability.support import BIN, clean_env, records, start_fake, stop_all

CUSTOMERS = 600  # every second one consents: 300 texts


def write_config(tmp_path: Path, db_url: str, twilio_url: str) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[database]
url = "{db_url}"
[logging]
format = "json"
level = "INFO"
[security]
pii_keys = ["{make_settings(tmp_path).security.pii_keys[0].get_secret_value()}"]
lookup_key = "campaign-crash-lookup-key"
outbound_allow = ["127.0.0.0/8"]
[worker]
lease_seconds = 2
idle_poll_seconds = 0.05
retry_base_seconds = 0.1
retry_max_seconds = 1
[campaigns]
batch_size = 5
poll_seconds = 0.05
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.tw]
type = "twilio_sms"
account_sid = "AC{'0' * 32}"
auth_token = "fake-token"
from_number = "+15005550006"
base_url = "{twilio_url}"
rate_limit_per_second = 80
[channels.sms]
providers = ["tw"]
reconcile_seconds = 0.5
[notifications.stages.approved]
channels = ["sms"]
""")
    return config


def kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


@pytest.mark.slow
async def test_a_campaign_killed_mid_plan_and_mid_send_reaches_everyone_once(tmp_path, db_url):
    logs, record = tmp_path / "logs.txt", tmp_path / "tw.jsonl"
    fake, announcement = start_fake("fake_twilio", record, logs)
    processes, hub = [fake], None
    config = write_config(tmp_path, db_url, announcement["url"])

    def worker() -> subprocess.Popen:
        process = subprocess.Popen([str(BIN / "returnhub"), "--config", str(config), "worker"],
                                   stdout=subprocess.DEVNULL, stderr=logs.open("a"),
                                   env=clean_env())
        processes.append(process)
        return process

    async def campaign_row() -> Campaign:
        async with hub.sessionmaker() as session:
            return await session.get(Campaign, campaign.id, populate_existing=True)

    try:
        subprocess.run([str(BIN / "returnhub"), "--config", str(config), "db", "upgrade"],
                       check=True, capture_output=True, timeout=60, env=clean_env())
        hub = Hub.build(load_settings(config))
        await hub.start(workers=False, migrate=False)
        await seed_customers(hub.sessionmaker, hub.codec, CUSTOMERS, consent_every=2)
        await service.create_segment(hub, "everyone", 'state in ["refunded", '
                                     '"exchange_shipped"]')
        campaign = await service.create_campaign(
            hub, name="swap", segment="everyone", template="campaigns/exchange_offer",
            channels=["sms"], rate_per_second=1000, start_at=None)
        await service.change(hub, campaign.id, "launch")

        first = worker()
        mid_plan = await wait_for(lambda: _planning_started(campaign_row), timeout=60,
                                  interval=0.01)
        kill(first)
        assert not (await campaign_row()).planning_done, "planning ended before the kill"

        second = worker()
        await wait_for(lambda: 20 <= len(records(record)), timeout=60, interval=0.01)
        kill(second)
        accepted_at_kill = len(records(record))
        async with hub.sessionmaker() as session:
            in_flight = await session.scalar(select(func.count()).where(
                Notification.campaign_id == campaign.id, Notification.status == "sending"))

        worker()

        async def done() -> bool:
            return (await campaign_row()).status == "done"
        await wait_for(done, timeout=120, interval=0.1)
        async with hub.sessionmaker() as session:
            statuses = Counter((await session.execute(select(Notification.status).where(
                Notification.campaign_id == campaign.id))).scalars())
    finally:
        stop_all(processes)
        if hub is not None:
            await hub.stop()
    texts = Counter(r["request"]["To"] for r in records(record))
    consenting = {f"+1415{2_000_000 + n:07d}" for n in range(2, CUSTOMERS + 1, 2)}
    print(f"\ncursor at the first kill: {mid_plan}; texts accepted at the second kill: "
          f"{accepted_at_kill}, claimed then: {in_flight}; accepted in all: "
          f"{sum(texts.values())}; statuses: {dict(statuses)}")
    assert set(texts) == consenting  # everyone who consents, nobody who does not
    assert max(texts.values()) == 1  # once
    assert statuses == {"sent": len(consenting)}


async def _planning_started(campaign_row) -> int | None:  # noqa: ANN001
    row = await campaign_row()
    return row.cursor or None
