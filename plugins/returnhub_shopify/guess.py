"""Which Shopify topic a payload belongs to, told from its shape.

Only for tools (``returnhub webhook send``): real deliveries name their topic in the
X-Shopify-Topic header, and the source never guesses.
"""

from __future__ import annotations

from typing import Any

import orjson

#: Return.status values in webhook payloads → their lifecycle topic.
_BY_STATUS = {"requested": "returns/request", "open": "returns/approve",
              "declined": "returns/decline", "closed": "returns/close",
              "canceled": "returns/cancel", "cancelled": "returns/cancel"}


def guess_topic(body: bytes) -> str | None:
    """The topic whose payload ``body`` looks like, or None when it cannot be told."""
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    by_key = [("orders_to_redact", "customers/redact"), ("data_request", "customers/data_request"),
              ("dispositions", "reverse_fulfillment_orders/dispose"),
              ("shipping_deliverable", "reverse_deliveries/attach_deliverable"),
              ("refund_line_items", "refunds/create"), ("transactions", "refunds/create"),
              ("decline", "returns/decline")]
    for key, topic in by_key:
        if key in payload:
            return topic
    if set(payload) <= {"shop_id", "shop_domain"} and payload:
        return "shop/redact"
    status = payload.get("status")
    return _BY_STATUS.get(status.lower()) if isinstance(status, str) else None
