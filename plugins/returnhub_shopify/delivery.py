"""One Shopify webhook delivery: its headers read once, and the event factory its topics share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.contract import EventType, RequestRejected, ReturnEvent, build, reject, timestamp

if TYPE_CHECKING:
    from hub.contract import InboundRequest

TOPIC_HEADER = "X-Shopify-Topic"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
TRIGGERED_AT_HEADER = "X-Shopify-Triggered-At"
API_VERSION_HEADER = "X-Shopify-API-Version"
SHOP_HEADER = "X-Shopify-Shop-Domain"

#: Longest delivery id accepted: it becomes the inbox dedupe key.
MAX_ID_LENGTH = 200
#: Payload timestamps tried, in order, when X-Shopify-Triggered-At is absent.
_PAYLOAD_TIMES = ("updated_at", "processed_at", "created_at")


def _header(request: InboundRequest, name: str, *, required: bool) -> str | None:
    value = (request.headers.get(name) or "").strip()
    if not value:
        if required:
            raise RequestRejected(f"the {name} header is missing", field=name)
        return None
    if len(value) > MAX_ID_LENGTH:
        raise RequestRejected(f"the {name} header is too long", field=name)
    return value


def gid(kind: str, obj: dict[str, Any], field_prefix: str = "", *, required: bool = True,
        id_key: str = "id", gid_key: str = "admin_graphql_api_id") -> str | None:
    """The GraphQL id (``gid://shopify/<kind>/<n>``) of an object in a webhook payload.

    Prefers ``admin_graphql_api_id``; builds it from the numeric ``id`` otherwise, so every
    topic names returns, orders and customers the same way the Admin API does.
    """
    pattern = re.compile(rf"gid://shopify/{kind}/\d+")
    graphql = obj.get(gid_key)
    if graphql is not None:
        if isinstance(graphql, str) and pattern.fullmatch(graphql.strip()):
            return graphql.strip()
        raise reject(field_prefix + gid_key, f"{field_prefix}{gid_key} must be a {kind} GID")
    return to_gid(kind, obj.get(id_key), field_prefix + id_key, required=required)


def to_gid(kind: str, value: Any, field: str, *, required: bool = True) -> str | None:
    """A numeric id (or an existing GID of ``kind``) as a GID; None when absent and optional."""
    if value is None or value == "":
        if required:
            raise reject(field, f"{field} is required")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"gid://shopify/{kind}/{value}"
    if isinstance(value, str):
        candidate = value.strip()
        if candidate.isascii() and candidate.isdigit():
            return f"gid://shopify/{kind}/{int(candidate)}"
        if re.fullmatch(rf"gid://shopify/{kind}/\d+", candidate):
            return candidate
    raise reject(field, f"{field} must be a {kind} id")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The parts of one webhook delivery every event built from it shares."""

    source: str
    topic: str
    webhook_id: str
    occurred_at: datetime
    raw: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, request: InboundRequest, payload: dict[str, Any], source: str) -> Delivery:
        """Read the delivery headers; a missing topic or webhook id is a 422 naming the header.

        ``occurred_at`` is X-Shopify-Triggered-At (retries keep the original value), else the
        payload's own timestamp, else when the hub received the request.
        """
        topic = _header(request, TOPIC_HEADER, required=True).lower()
        webhook_id = _header(request, WEBHOOK_ID_HEADER, required=True)
        triggered = _header(request, TRIGGERED_AT_HEADER, required=False)
        if triggered is not None:
            occurred_at = timestamp(triggered, TRIGGERED_AT_HEADER)
        else:
            occurred_at = request.received_at
            for key in _PAYLOAD_TIMES:
                if payload.get(key) is not None:
                    occurred_at = timestamp(payload[key], key)
                    break
        extra = {
            "topic": topic,
            "shopify_event_id": _header(request, EVENT_ID_HEADER, required=False),
            "api_version": _header(request, API_VERSION_HEADER, required=False),
            "shop_domain": (request.headers.get(SHOP_HEADER) or "").strip().lower() or None,
        }
        return cls(source=source, topic=topic, webhook_id=webhook_id, occurred_at=occurred_at,
                   raw=payload, extra=extra)

    def event(self, event_type: EventType, *, extra: dict[str, Any] | None = None,
              **fields: Any) -> ReturnEvent:
        """A normalized event carrying this delivery's id, time, raw payload and extras."""
        return build(
            ReturnEvent, type=event_type, source=self.source, source_event_id=self.webhook_id,
            occurred_at=self.occurred_at, raw=self.raw, extra={**self.extra, **(extra or {})},
            **fields,
        )
