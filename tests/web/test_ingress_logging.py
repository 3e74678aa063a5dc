"""A delivery the hub cannot store is answered 503 and logged: which connector, the error's
class, never its text (a database error carries the statement's parameters, i.e. the payload)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from structlog.testing import capture_logs

from hub.runtime import Hub
from hub.testing.factories import event_payload
from hub.testing.fake_sendgrid import FakeSendGrid
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers


@pytest.fixture
async def setup(tmp_path: Path, db_url: str):
    sendgrid = FakeSendGrid()
    hub = Hub.build(make_settings(tmp_path, db_url, sinks={
        "outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
        "sg": {"type": "sendgrid", "api_key": "SG.x", "base_url": "http://127.0.0.1:9",
               "webhook_public_key": sendgrid.public_key_b64}}))
    await hub.start(workers=False)
    try:
        async with TestClient(TestServer(create_app(hub))) as client:
            yield hub, client, sendgrid
    finally:
        await hub.stop()


async def drop(hub: Hub, table: str) -> None:
    """Break storage for real: the table the write needs is gone."""
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(text(f"DROP TABLE {table}"))


def assert_logged_safely(logs: list[dict], event: str, connector: str, secrets: list[str]):
    entries = [e for e in logs if e["event"] == event]
    assert len(entries) == 1, logs
    entry = entries[0]
    assert entry["log_level"] == "error"
    assert entry["connector"] == connector
    assert entry["error"] and entry["error"][0].isupper()  # an exception class name
    assert "exc_info" not in entry
    dumped = json.dumps(logs, default=str)
    for secret in secrets:
        assert secret not in dumped


async def test_an_inbox_that_cannot_store_answers_503_and_logs_why(setup):
    hub, client, _ = setup
    payload = event_payload("return.approved", "R-503")
    body = json.dumps(payload).encode()
    await drop(hub, "inbox_events")
    with capture_logs() as logs:
        response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert_logged_safely(logs, "inbox_submit_failed", "shop",
                         [payload["customer"]["email"], payload["customer"]["name"], "R-503"])


async def test_receipts_that_cannot_be_stored_answer_503_and_log_why(setup):
    hub, client, sendgrid = setup
    events = [{"email": "reader@example.com", "event": "delivered", "timestamp": int(time.time()),
               "sg_event_id": "ev-503", "sg_message_id": "m503.filter"}]
    body = json.dumps(events).encode()
    await drop(hub, "delivery_receipts")
    with capture_logs() as logs:
        response = await client.post("/webhooks/sg", data=body, headers={
            **sendgrid.sign(body), "Content-Type": "application/json"})
    assert response.status == 503
    assert_logged_safely(logs, "receipt_write_failed", "sg",
                         ["reader@example.com", "m503"])
