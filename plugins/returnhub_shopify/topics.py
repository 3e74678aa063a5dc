"""Shopify return and refund topics → hub events. Pure functions: no I/O.

Return webhooks carry ids and statuses, not prices or the customer's contact: those come from
``enrich``. Every id is normalized to its Admin API GID so that webhook events, enriched events
and actions all name a return the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hub.contract import (
    EventType,
    Money,
    ReturnEvent,
    ReturnItem,
    Tracking,
    as_list,
    as_object,
    build,
    decimal,
    integer,
    money,
    reject,
    text,
)
from returnhub_shopify.delivery import Delivery, gid, to_gid

#: A topic handler: the payload (a JSON object) and its delivery → events.
Handler = Callable[[dict[str, Any], Delivery], list[ReturnEvent]]

#: Disposition types after which the item is back on the shelf.
RESTOCKED_DISPOSITIONS = frozenset({"restocked"})


def normalize_reason(value: str | None) -> str | None:
    """A Shopify ReturnReason (``SIZE_TOO_SMALL``) as the hub's snake case (``size_too_small``)."""
    return value.strip().lower().replace(" ", "_") if value else None


def _order_gid(payload: dict[str, Any]) -> str | None:
    order = payload.get("order")
    if order is not None:
        return gid("Order", as_object(order, "order"), "order.", required=False)
    return to_gid("Order", payload.get("order_id"), "order_id", required=False)


def _line_items(payload: dict[str, Any]) -> list[ReturnItem]:
    items = []
    for index, line in enumerate(as_list(payload.get("return_line_items"), "return_line_items")):
        where = f"return_line_items[{index}]"
        line = as_object(line, where)
        reason = text(line, "return_reason", f"{where}.return_reason")
        items.append(build(
            ReturnItem,
            quantity=integer(line, "quantity", f"{where}.quantity", default=1),
            reason=normalize_reason(reason),
        ))
    return items


def _lifecycle(event_type: EventType, *, with_items: bool = False) -> Handler:
    """A handler for topics whose payload is the Return itself (request, approve, close...)."""

    def handle(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
        fields: dict[str, Any] = {
            "return_id": gid("Return", payload),
            "order_id": _order_gid(payload),
        }
        extra: dict[str, Any] = {"return_status": text(payload, "status", "status")}
        if with_items:
            fields["items"] = _line_items(payload)
            fields["reason"] = next((i.reason for i in fields["items"] if i.reason), None)
            extra["return_name"] = text(payload, "name", "name")
            fields["customer_reference"] = extra["return_name"]  # #1001-R1, as the store shows
        return [delivery.event(event_type, extra=extra, **fields)]

    return handle


def _declined(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    decline = as_object(payload.get("decline") or {}, "decline")
    extra = {
        "return_status": text(payload, "status", "status"),
        "decline_reason": normalize_reason(text(decline, "reason", "decline.reason")),
        "decline_note": text(decline, "note", "decline.note"),
    }
    return [delivery.event(EventType.DECLINED, return_id=gid("Return", payload),
                           order_id=_order_gid(payload), extra=extra)]


def _updated(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    # returns/update carries only the GID and diff-style line changes; enrich refetches.
    return [delivery.event(EventType.UPDATED, return_id=gid("Return", payload))]


def _label_attached(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    return_id = gid("Return", as_object(payload.get("return"), "return"), "return.")
    deliverable = as_object(payload.get("shipping_deliverable") or {}, "shipping_deliverable")
    tracking = as_object(deliverable.get("tracking") or {}, "shipping_deliverable.tracking")
    label = as_object(deliverable.get("label") or {}, "shipping_deliverable.label")
    prefix = "shipping_deliverable."
    details = {
        "carrier": text(tracking, "carrier_name", prefix + "tracking.carrier_name"),
        "number": text(tracking, "tracking_number", prefix + "tracking.tracking_number"),
        "url": text(tracking, "tracking_url", prefix + "tracking.tracking_url"),
        "label_url": text(label, "public_file_url", prefix + "label.public_file_url"),
    }
    parcel = build(Tracking, **details) if any(details.values()) else None
    extra = {"reverse_delivery_id": gid("ReverseDelivery", payload, required=False)}
    return [delivery.event(EventType.LABEL_CREATED, return_id=return_id, tracking=parcel,
                           extra=extra)]


def _disposed(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    """reverse_fulfillment_orders/dispose names the reverse fulfillment order, not the return:
    ``return_id`` stays empty and ``enrich`` resolves it from the order's returns."""
    rfo_id = gid("ReverseFulfillmentOrder", payload)
    if payload.get("dispositions") is None:
        raise reject("dispositions", "dispositions is required")
    dispositions = []
    for index, item in enumerate(as_list(payload["dispositions"], "dispositions")):
        where = f"dispositions[{index}]"
        item = as_object(item, where)
        kind = normalize_reason(text(item, "type", f"{where}.type", required=True))
        dispositions.append({"type": kind,
                             "quantity": integer(item, "quantity", f"{where}.quantity", default=0)})
    kinds = {d["type"] for d in dispositions}
    restocked = bool(kinds) and kinds <= RESTOCKED_DISPOSITIONS
    extra = {
        "reverse_fulfillment_order_id": rfo_id,
        "dispositions": dispositions,
        "disposition": kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None),
    }
    event_type = EventType.RESTOCKED if restocked else EventType.INSPECTED
    return [delivery.event(event_type, return_id=None, extra=extra)]


def _return_of_refund(value: Any) -> str | None:
    if value is None or (isinstance(value, dict) and not value):
        return None
    if isinstance(value, dict):
        return gid("Return", value, "return.")
    return to_gid("Return", value, "return")


def _refund_amount(payload: dict[str, Any]) -> tuple[Money | None, str | None]:
    """Sum of the refund's successful refund transactions, and the gateway they went through."""
    total, currency, method = Decimal(0), None, None
    for index, tx in enumerate(as_list(payload.get("transactions"), "transactions")):
        where = f"transactions[{index}]"
        tx = as_object(tx, where)
        kind = (text(tx, "kind", f"{where}.kind") or "").lower()
        status = (text(tx, "status", f"{where}.status") or "success").lower()
        if kind != "refund" or status != "success":
            continue
        tx_currency = text(tx, "currency", f"{where}.currency")
        if currency is not None and tx_currency not in (None, currency):
            continue  # a second currency cannot be added up; the first one is reported
        currency = currency or tx_currency
        total += decimal(tx.get("amount"), f"{where}.amount")
        method = method or text(tx, "gateway", f"{where}.gateway")
    if method is None:
        return None, None
    currency = currency or _fallback_currency(payload)
    if currency is None:
        return None, method
    return money(total, currency, "transactions.amount", "transactions.currency"), method


def _fallback_currency(payload: dict[str, Any]) -> str | None:
    # Older payloads leave transactions[].currency null; the line subtotals always carry one.
    for line in payload.get("refund_line_items") or []:
        try:
            code = line["subtotal_set"]["shop_money"]["currency_code"]
        except (KeyError, TypeError):
            continue
        if isinstance(code, str):
            return code
    return None


def _refunded(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    return_id = _return_of_refund(payload.get("return"))
    if return_id is None:
        return []  # a refund outside any return (an order edit, a goodwill refund)
    amount, method = _refund_amount(payload)
    extra = {"refund_id": gid("Refund", payload, required=False)}
    return [delivery.event(EventType.REFUNDED, return_id=return_id,
                           order_id=to_gid("Order", payload.get("order_id"), "order_id",
                                           required=False),
                           refund_amount=amount, refund_method=method, extra=extra)]


#: Return and refund topics; privacy topics live in :mod:`returnhub_shopify.privacy`.
RETURN_TOPICS: dict[str, Handler] = {
    "returns/request": _lifecycle(EventType.REQUESTED, with_items=True),
    "returns/approve": _lifecycle(EventType.APPROVED, with_items=True),
    "returns/decline": _declined,
    "returns/cancel": _lifecycle(EventType.CANCELLED),
    "returns/close": _lifecycle(EventType.CLOSED),
    "returns/reopen": _lifecycle(EventType.REOPENED),
    "returns/update": _updated,
    # returns/process confirms items and may release exchanges or refunds; the refund itself
    # arrives as refunds/create, so processing is a "go fetch" signal.
    "returns/process": _lifecycle(EventType.UPDATED),
    "reverse_deliveries/attach_deliverable": _label_attached,
    "reverse_fulfillment_orders/dispose": _disposed,
    "refunds/create": _refunded,
}
