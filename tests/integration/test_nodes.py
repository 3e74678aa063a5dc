"""Several workers on one database never deliver the same notification twice; ingress-only and
worker-only processes share the database."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.store.models import DeliveryAttempt, Notification
from hub.testing.factories import event_payload
from tests.conftest import TEST_SECRET, make_settings, signed_headers, wait_for

BIN = Path(sys.executable).parent


async def test_two_hubs_share_the_work_without_double_sends(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url, worker={
        "idle_poll_seconds": 0.02, "lease_seconds": 30, "batch_size": 10, "concurrency": 8})
    first, second = Hub.build(settings), Hub.build(settings)
    await first.start()
    await second.start(migrate=False)
    try:
        events = [event_payload("return.approved", f"R-node-{n}") for n in range(150)]
        for payload in events:
            await first.inbox.submit([_event(payload)], _now())

        async def delivered() -> bool:
            async with first.sessionmaker() as session:
                return (await session.execute(select(func.count()).select_from(Notification)
                        .where(Notification.status == "sent"))).scalar_one() == 300
        await wait_for(delivered, timeout=60)
        async with first.sessionmaker() as session:
            attempts = (await session.execute(select(func.count()).select_from(DeliveryAttempt))
                        ).scalar_one()
            owners = set((await session.execute(select(DeliveryAttempt.provider))).scalars())
        assert attempts == 300  # one attempt per notification: nobody sent one twice
        assert owners == {"outbox"}
    finally:
        await second.stop()
        await first.stop()


def _event(payload: dict):
    from hub.events import ReturnEvent

    return ReturnEvent.model_validate({**payload, "source": "shop",
                                       "source_event_id": f"evt-{payload['return_id']}"})


def _now():
    from hub.store.engine import utcnow

    return utcnow()


async def _start(args: list[str], log: Path) -> subprocess.Popen:
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log.open("a"), text=True)
    return process


async def test_ingress_only_and_worker_only_processes(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[server]
port = 0
[worker]
idle_poll_seconds = 0.05
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.outbox]
type = "file"
directory = "{tmp_path / 'outbox'}"
[channels.email]
providers = ["outbox"]
[notifications.stages.approved]
channels = ["email"]
""")
    base = [str(BIN / "returnhub"), "--config", str(config)]
    subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True, timeout=60)
    ingress = await _start([*base, "serve", "--no-workers"], tmp_path / "ingress.log")
    worker = None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(ingress.stdout.readline), 30)
        url = re.search(r"listening on (http://\S+)", line).group(1)
        async with aiohttp.ClientSession() as session:
            for n in range(20):
                body = json.dumps(event_payload("return.approved", f"R-split-{n}")).encode()
                async with session.post(f"{url}/webhooks/shop", data=body,
                                        headers=signed_headers(body)) as response:
                    assert response.status == 202
        await asyncio.sleep(0.5)
        assert not list((tmp_path / "outbox").glob("*.eml"))  # ingress alone sends nothing
        worker = await _start([*base, "worker"], tmp_path / "worker.log")
        await wait_for(lambda: len(list((tmp_path / "outbox").glob("*.eml"))) == 20, timeout=30)
    finally:
        for process in (ingress, worker):
            if process is not None:
                process.terminate()
                process.wait(20)
