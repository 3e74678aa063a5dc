"""Fold an Admin API Return (the answer to ``RETURN_QUERY``) into a webhook's event. Pure.

The Admin API is trusted but read defensively: a field that is missing or of an unexpected
shape is left out rather than failing the whole event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hub.contract import (
    Customer,
    EventType,
    Money,
    RequestRejected,
    ReturnItem,
    Tracking,
    timestamp,
)
from returnhub_shopify.topics import normalize_reason

if TYPE_CHECKING:
    from hub.contract import ReturnEvent

#: Events before any refund: their refund amount is the estimate (what the approval email and
#: the portal call the refund to expect); later events keep the refund Shopify reports.
ESTIMATED = frozenset({EventType.REQUESTED, EventType.PENDING_REVIEW, EventType.APPROVED})


def _at(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None as soon as a step is missing or not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _nodes(obj: Any, *keys: str) -> list[dict[str, Any]]:
    nodes = _at(obj, *keys, "nodes")
    return [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _money(price_set: Any) -> Money | None:
    shop_money = _at(price_set, "shopMoney")
    try:
        return Money(amount=shop_money["amount"], currency=shop_money["currencyCode"])
    except (KeyError, TypeError, ValidationError):
        return None


def _time(value: Any) -> datetime | None:
    try:
        return timestamp(value, "time") if value else None
    except RequestRejected:
        return None


def _days(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return max(0, (later - earlier).days)


def _customer(order: Any, current: Customer | None) -> Customer | None:
    person = _obj(_at(order, "customer"))
    first, last = _str(person.get("firstName")), _str(person.get("lastName"))
    fields = {
        "id": _str(person.get("id")),
        "email": _str(_at(order, "email")) or _str(person.get("email")),
        "phone": _str(_at(order, "phone")) or _str(person.get("phone")),
        "name": " ".join(p for p in (first, last) if p) or None,
        "locale": _str(person.get("locale")),
        "tags": [t for t in _list(person.get("tags")) if isinstance(t, str)],
    }
    if not any(fields.values()):
        return current
    try:
        return Customer(**fields)
    except ValidationError:
        return current


def _items(node: dict[str, Any]) -> list[ReturnItem]:
    items = []
    for line in _nodes(node, "returnLineItems"):
        item = _obj(_at(line, "fulfillmentLineItem", "lineItem"))
        quantity = line.get("quantity")
        try:
            items.append(ReturnItem(
                sku=_str(item.get("sku")),
                name=_str(item.get("name")),
                quantity=quantity if isinstance(quantity, int) else 1,
                price=_money(item.get("originalUnitPriceSet")),
                reason=normalize_reason(_str(line.get("returnReason"))),
                category=_str(_at(item, "product", "productType")),
            ))
        except ValidationError:
            continue
    return items


def _tracking(node: dict[str, Any]) -> Tracking | None:
    for rfo in _nodes(node, "reverseFulfillmentOrders"):
        for delivery in _nodes(rfo, "reverseDeliveries"):
            deliverable = _at(delivery, "deliverable")
            number = _str(_at(deliverable, "tracking", "number"))
            if number:
                return Tracking(carrier=_str(_at(deliverable, "tracking", "carrierName")),
                                number=number, url=_str(_at(deliverable, "tracking", "url")),
                                label_url=_str(_at(deliverable, "label", "publicFileUrl")))
    return None


def _order_count(customer: Any) -> int | None:
    value = _at(customer, "numberOfOrders")  # UnsignedInt64 arrives as a string
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def refund_estimate(items: list[ReturnItem]) -> Money | None:
    """What the returned lines are worth (unit price × quantity), the refund a customer can
    expect before inspection; None unless every line has a price in one currency."""
    prices = [item.price for item in items]
    if not items or any(p is None for p in prices) or len({p.currency for p in prices}) != 1:
        return None
    total = sum((item.price.amount * item.quantity for item in items), Decimal(0))
    return Money(amount=total, currency=prices[0].currency)


def enrich_event(event: ReturnEvent, node: dict[str, Any]) -> ReturnEvent:
    """``event`` completed with the Return ``node``: customer, items with prices and product
    types, order total and number, reason, tracking, the customer-facing reference (the
    return's name, else the order's), the refund estimate before a refund, and extras for
    rules (``days_since_delivery``, ``days_since_order``, ``shipping_country``,
    ``customer_order_count``)."""
    order = _obj(node.get("order"))
    items = _items(node)
    requested_at = _time(node.get("createdAt")) or event.occurred_at
    delivered = [t for t in (_time(_at(f, "deliveredAt")) for f in _list(order.get("fulfillments")))
                 if t]
    extra = {
        "return_name": _str(node.get("name")) or event.extra.get("return_name"),
        "return_status": _str(node.get("status")) or event.extra.get("return_status"),
        "shipping_country": _str(_at(order, "shippingAddress", "countryCodeV2")),
        "customer_order_count": _order_count(order.get("customer")),
        "days_since_delivery": _days(requested_at, max(delivered) if delivered else None),
        "days_since_order": _days(requested_at, _time(order.get("createdAt"))),
        "reverse_fulfillment_order_ids": [r["id"] for r in _nodes(node, "reverseFulfillmentOrders")
                                          if _str(r.get("id"))],
        "enriched": True,
    }
    update: dict[str, Any] = {
        "return_id": _str(node.get("id")) or event.return_id,
        "order_id": _str(order.get("id")) or event.order_id,
        "order_number": _str(order.get("name")) or event.order_number,
        "customer_reference": _str(node.get("name")) or event.customer_reference
        or _str(order.get("name")) or event.order_number,
        "customer": _customer(order, event.customer),
        "order_total": _money(order.get("totalPriceSet")) or event.order_total,
        "items": items or event.items,
        "reason": next((i.reason for i in items if i.reason), None) or event.reason,
        "tracking": event.tracking or _tracking(node),
        "extra": {**event.extra, **{k: v for k, v in extra.items() if v is not None}},
    }
    if event.refund_amount is None and event.type in ESTIMATED:
        update["refund_amount"] = refund_estimate(update["items"])
    return event.model_copy(update=update)


def return_of_reverse_fulfillment_order(data: dict[str, Any], rfo_id: str) -> str | None:
    """The GID of the return (among the RFO's order's returns) that owns ``rfo_id``."""
    order = _at(data, "reverseFulfillmentOrder", "order")
    for candidate in _nodes(order, "returns"):
        if any(r.get("id") == rfo_id for r in _nodes(candidate, "reverseFulfillmentOrders")):
            return _str(candidate.get("id"))
    return None
