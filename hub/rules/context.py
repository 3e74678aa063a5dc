"""The variables a rule condition sees (its CEL activation).

| name | what |
|---|---|
| ``event`` | ``type``, ``source``, ``reason``, ``occurred_at`` (RFC 3339), ``extra`` (map) |
| ``stage`` | the state this event moves the return to ("" when it moves nothing) |
| ``state`` | the state before this event ("" for a new return) |
| ``reason`` | the return reason, lower snake case (``size_too_small``, ``defective``) |
| ``reasons`` | every item's reason, same form |
| ``order`` | ``id``, ``number``, ``total`` (double), ``currency`` |
| ``refund`` | ``amount`` (double), ``currency``, ``method`` |
| ``customer`` | ``tags`` (list), ``order_count`` (int or null), ``locale`` |
| ``items`` | list of ``sku``, ``name``, ``quantity``, ``price`` (double), ``category``,
  ``reason`` |
| ``categories`` | the items' categories |
| ``region`` | shipping country code (upper case), or null |
| ``days_since_delivery`` | days from the order's delivery to the return request, or null |
| ``source`` | the source name |
| ``tags`` | tags added by earlier rules |

Unknown values are null; a condition that touches a null value in a comparison does not
match (the evaluation error is recorded on the timeline), so an unknown delivery date never
auto-approves a return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.domain.views import ReturnView
    from hub.events import ReturnEvent


def normalize_reason(reason: str | None) -> str | None:
    """``"Wrong Size"`` → ``"wrong_size"``; Shopify's ``SIZE_TOO_SMALL`` → ``size_too_small``."""
    if not reason:
        return None
    return "_".join(reason.strip().lower().replace("-", " ").split())


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def rule_variables(event: ReturnEvent, ret: ReturnView | None, *, state: str | None,
                   stage: str | None, items: list[dict], tags: list[str]) -> dict[str, Any]:
    """The activation for ``event`` applied to ``ret`` (which may be None: a dry run on a new
    return). ``items`` are the return's items as stored (dicts)."""
    extra = dict(event.extra or {})
    customer = event.customer
    order_total = event.order_total.amount if event.order_total else (
        ret.order_total if ret is not None else None)
    currency = (event.order_total.currency if event.order_total else
                (ret.currency if ret is not None else None))
    refund = event.refund_amount
    region = extra.get("shipping_country") or extra.get("region")
    item_rows = [{
        "sku": item.get("sku"), "name": item.get("name"),
        "quantity": int(item.get("quantity") or 0),
        "price": _float((item.get("price") or {}).get("amount")),
        "category": item.get("category"), "reason": normalize_reason(item.get("reason")),
    } for item in items]
    reason = normalize_reason(event.reason or (ret.reason if ret is not None else None))
    days = extra.get("days_since_delivery")
    order_count = extra.get("customer_order_count")
    return {
        "event": {"type": event.type.value, "source": event.source,
                  "reason": normalize_reason(event.reason),
                  "occurred_at": event.occurred_at.isoformat(), "extra": extra},
        "stage": stage or "",
        "state": state or "",
        "reason": reason,
        "reasons": [r for r in [reason, *(i["reason"] for i in item_rows)] if r],
        "order": {"id": event.order_id or (ret.order_ref if ret is not None else None),
                  "number": event.order_number or (ret.order_number if ret is not None else None),
                  "total": _float(order_total), "currency": currency},
        "refund": {"amount": _float(refund.amount) if refund else None,
                   "currency": refund.currency if refund else None,
                   "method": event.refund_method},
        "customer": {"tags": list(customer.tags) if customer else [],
                     "order_count": int(order_count) if order_count is not None else None,
                     "locale": customer.locale if customer else None},
        "items": item_rows,
        "categories": sorted({i["category"] for i in item_rows if i["category"]}),
        "region": str(region).upper() if region else None,
        "days_since_delivery": float(days) if days is not None else None,
        "source": event.source,
        "tags": list(tags),
    }
