"""Connectors: configuration, health, circuit breakers, and a test send through one sink."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import select

from hub.contact import email_problem, phone_problem
from hub.content.context import build_context
from hub.errors import DeliveryError
from hub.messages import OutboundMessage
from hub.store.engine import utcnow
from hub.store.models import Notification, ProviderHealth, Return
from hub.templates import TemplateRenderError
from hub.web.admin import audit
from hub.web.admin.errors import ApiError, not_found
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import (
    BreakerOut,
    ConnectorList,
    ConnectorOut,
    NameParam,
    TestSendBody,
    TestSendResult,
)

if TYPE_CHECKING:
    from hub.connectors import Connector, Sink
    from hub.runtime import Hub

router = ApiRouter(tag="connectors")

#: How long a connector's own health report may take.
HEALTH_TIMEOUT_SECONDS = 3.0
#: Test sends cost money (SMS): at most this many per token per minute, per process.
TEST_SENDS_PER_MINUTE = 5


class SendBudget:
    """A sliding one-minute window of test sends per token name."""

    def __init__(self, per_minute: int = TEST_SENDS_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._recent: dict[str, deque[float]] = {}

    def take(self, key: str) -> None:
        """Count one send for ``key``; 429 (with Retry-After) when the budget is spent."""
        now = time.monotonic()
        recent = self._recent.setdefault(key, deque())
        while recent and now - recent[0] > 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            raise ApiError(429, "rate_limited", f"at most {self.per_minute} test sends per "
                           "minute", headers={"Retry-After": str(int(60 - (now - recent[0])) + 1)})
        recent.append(now)


#: The application's test-send budget.
TEST_SENDS: web.AppKey[SendBudget] = web.AppKey("test_sends", SendBudget)


async def _health(connector: Connector) -> dict[str, Any]:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            report = await connector.health()
        return dict(report or {})
    except TimeoutError:
        return {"ok": False, "error": "the health check timed out"}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


async def list_connector_health(hub: Hub) -> list[ConnectorOut]:
    """Every configured connector with health and breaker states (shared by the dashboard)."""
    async with hub.sessionmaker() as session:
        shared = {row.provider: row for row in (await session.execute(
            select(ProviderHealth))).scalars()}
    snapshot = hub.health.snapshot()
    items = []
    for name, spec in sorted(hub.specs.items()):
        connector = hub.sources.get(name) or hub.sinks.get(name)
        is_sink = spec.kind == "sinks"
        row = shared.get(name)
        local = snapshot.get(name)
        items.append(ConnectorOut(
            name=name, kind="sink" if is_sink else "source", type=spec.cls.type,
            channels=sorted(getattr(spec.cls, "channels", ()) or ()),
            webhooks=bool(connector is not None and connector.accepts_webhooks),
            health=await _health(connector) if connector is not None
            else {"ok": False, "error": "not started on this node"},
            breaker=BreakerOut(**local) if local else None,
            shared_breaker=BreakerOut(state=row.state,
                                      consecutive_failures=row.consecutive_failures,
                                      last_error=row.last_error, updated_at=row.updated_at,
                                      node=row.node) if row else None))
    return items


@router.route("GET", "/api/connectors", summary="Connectors with health and circuit-breaker "
              "state", scope="read", response=ConnectorList)
async def list_connectors(call: Call) -> ConnectorList:
    """Sources and sinks; for sinks this process's breaker and the last state any node wrote."""
    return ConnectorList(items=await list_connector_health(call.hub))


def _sample_context(hub: Hub, channel: str, stage: str, locale: str, message_id: str
                    ) -> dict[str, Any]:
    """A rendered-message context for a made-up return (no customer data involved)."""
    now = utcnow()
    ret = Return(id=0, source="test", external_id="TEST-0001", order_number="#TEST",
                 state=stage, cycle=0, exception_flag=False, reason="Test send",
                 currency="USD", order_total=Decimal("42.00"), refund_amount=Decimal("42.00"),
                 refund_method="original_payment", carrier="UPS", tracking_number="1ZTEST",
                 tracking_url=None, label_url=None,
                 details_enc=hub.codec.encode_json({"items": [
                     {"sku": "TEST-SKU", "name": "Sample item", "quantity": 1}]}),
                 created_at=now, updated_at=now)
    notification = Notification(id=message_id, stage=stage, channel=channel, template=stage,
                                locale=locale)
    return build_context(notification=notification, ret=ret, customer=None,
                         brand=hub.settings.notifications.brand, codec=hub.codec,
                         portal_url=f"{hub.public_url}/portal/r/test",
                         default_timezone=hub.settings.notifications.default_timezone)


@router.route("POST", "/api/connectors/{name}/test-send", summary="Send a rendered sample "
              "message through one sink", scope="operate", path_model=NameParam,
              body=TestSendBody, response=TestSendResult, audited=True,
              errors={404: "No sink of that name on this node.",
                      422: "The sink has no such channel or the template cannot render.",
                      429: "Too many test sends.", 502: "The provider refused or failed."})
async def test_send(call: Call) -> TestSendResult:
    """Renders the stage's template for a made-up return and hands it to the sink's ``send``
    with a fresh message id. The address is used once and not stored (the audit log keeps its
    keyed hash)."""
    hub, body = call.hub, call.body
    sink: Sink | None = hub.sinks.get(call.path.name)
    if sink is None:
        raise not_found("sink")
    channels = sorted(type(sink).channels)
    channel = body.channel or (channels[0] if channels else "")
    if channel not in channels:
        raise ApiError(422, "invalid_field", f"channel: {call.path.name} delivers on "
                       f"{', '.join(channels)}", field="channel")
    rule = {"email": email_problem, "sms": phone_problem}.get(channel)
    why = rule(body.to.strip()) if rule else None
    if why:  # the rule ingress holds customers' addresses to (hub.contact)
        raise ApiError(422, "invalid_field", f"to: {why}", field="to")
    call.request.app[TEST_SENDS].take(call.token.name)
    message_id = str(uuid.uuid4())
    locale = body.locale or hub.settings.notifications.default_locale
    try:
        rendered = hub.renderer.render(body.stage, channel, _sample_context(
            hub, channel, body.stage, locale, message_id))
    except TemplateRenderError as exc:
        raise ApiError(422, "template_error", str(exc)[:300], field="stage") from None
    brand = hub.settings.notifications.brand
    message = OutboundMessage(
        message_id=message_id, channel=channel, to=body.to, subject=rendered.subject,
        text=rendered.text, html=rendered.html, from_address=brand.from_email,
        from_name=brand.from_name or brand.store_name, reply_to=brand.support_email,
        metadata={"return": "TEST-0001", "stage": body.stage, "test": "true"},
        template=body.stage)
    status, detail, provider_id = "accepted", "", None
    try:
        result = await sink.send(message)
        status, detail, provider_id = result.status, result.detail, result.provider_message_id
    except DeliveryError as exc:
        status, detail = "failed", f"{type(exc).__name__}: {exc}"[:300]
    except Exception as exc:
        status, detail = "failed", type(exc).__name__
    async with hub.sessionmaker() as session, session.begin():
        audit.record(session, call.token, "connector.test_send", f"sink:{sink.name}",
                     {"channel": channel, "stage": body.stage, "message_id": message_id,
                      "to_hash": hub.cipher.lookup_hash(body.to), "status": status}, utcnow())
    if status == "failed":
        raise ApiError(502, "send_failed", detail or "the provider failed")
    return TestSendResult(message_id=message_id, status=status, provider_message_id=provider_id,
                          detail=detail)
