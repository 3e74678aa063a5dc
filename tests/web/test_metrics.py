"""/metrics: Prometheus text that parses, with the counted and the database-derived series."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from hub.store.models import Notification
from hub.testing.factories import event_payload
from hub.web.app import create_app
from tests.conftest import signed_headers
from tests.web.conftest import post_event


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(family, **labels) -> float:
    return sum(s.value for s in family.samples
               if all(s.labels.get(k) == v for k, v in labels.items())
               and not s.name.endswith(("_created", "_bucket", "_sum")))


async def test_metrics_parse_and_have_every_series(hub, client):
    await post_event(client, event_payload("return.approved", "M-1"), "msg_m1")
    await post_event(client, event_payload("return.approved", "M-1"), "msg_m1")  # duplicate
    body = json.dumps(event_payload()).encode()
    bad = signed_headers(body)
    bad["webhook-signature"] = "v1," + "A" * 43 + "="
    assert (await client.post("/webhooks/shop", data=body, headers=bad)).status == 401
    assert (await client.post("/webhooks/nope-1", data=b"{}")).status == 404
    assert (await client.post("/webhooks/nope-2", data=b"{}")).status == 404
    await hub.drain()
    await post_event(client, event_payload("return.received", "M-1", minutes=60))  # queued
    await hub.processor.drain()
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(Notification).where(Notification.channel == "sms")
                              .values(status="dead"))

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found = families(await response.text())
    received = found["returnhub_events_received"]
    assert sample(received, source="shop", result="new") == 2
    assert sample(received, source="shop", result="duplicate") == 1
    rejected = found["returnhub_events_rejected"]
    assert sample(rejected, source="shop", reason="signature") == 1
    assert sample(rejected, source="unknown", reason="unknown_connector") == 2
    notifications = found["returnhub_notifications"]
    assert sample(notifications, channel="email", provider="outbox", status="sent") == 1
    assert sample(notifications, channel="sms", status="dead") == 1
    latency = found["returnhub_delivery_latency_seconds"]
    count = next(s.value for s in latency.samples if s.name.endswith("_count"))
    inf = next(s.value for s in latency.samples if s.labels.get("le") == "+Inf")
    assert count == inf == 2  # the email and SMS of M-1 were sent (sent_at set)
    # The queued message was handed to this process's dispatcher when planned (leased,
    # 'sending', no call started): it waits in memory, not in the database's pending rows.
    assert sample(found["returnhub_queue_depth"], status="sending") == 1
    assert sample(found["returnhub_queue_depth"], status="pending") == 0
    assert found["returnhub_oldest_pending_notification_seconds"].samples[0].value >= 0
    assert sample(found["returnhub_inbox_backlog"], status="pending") == 0
    assert sample(found["returnhub_dead_letters"], kind="notification") == 1
    assert sample(found["returnhub_provider_breaker_state"], provider="outbox",
                  state="closed") == 1
    assert found["returnhub_database_up"].samples[0].value == 1


async def test_each_app_has_its_own_registry(hub):
    first, second = create_app(hub), create_app(hub)
    from hub.web.metrics import METRICS

    first[METRICS].rejected("shop", "signature")
    assert first[METRICS].registry is not second[METRICS].registry
    assert second[METRICS].events_rejected.labels("shop", "signature")._value.get() == 0
