"""Shopify's mandatory privacy webhooks → privacy events the core acts on (erase, export).

customers/redact, customers/data_request and shop/redact are signed like every other topic, so
a bad HMAC is answered 401 by the same ``verify``. They name no return: ``return_id`` is empty
and ``customer`` says whose data is concerned (its id as a Customer GID, the form ``enrich``
stores, so the core can find every record of that customer).
"""

from __future__ import annotations

from typing import Any

from hub.contract import Customer, EventType, ReturnEvent, as_list, as_object, build, reject, text
from returnhub_shopify.delivery import Delivery, to_gid
from returnhub_shopify.topics import Handler


def _customer(payload: dict[str, Any]) -> Customer:
    customer = as_object(payload.get("customer"), "customer")
    person = build(
        Customer,
        id=to_gid("Customer", customer.get("id"), "customer.id", required=False),
        email=text(customer, "email", "customer.email"),
        phone=text(customer, "phone", "customer.phone"),
    )
    if not (person.id or person.email or person.phone):
        raise reject("customer.id", "customer must name an id, email or phone")
    return person


def _orders(payload: dict[str, Any], key: str) -> list[str]:
    return [to_gid("Order", value, f"{key}[{index}]")
            for index, value in enumerate(as_list(payload.get(key), key))]


def _shop_extra(payload: dict[str, Any]) -> dict[str, Any]:
    return {"shop_id": text(payload, "shop_id", "shop_id")}


def _customer_redact(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    extra = {**_shop_extra(payload), "orders": _orders(payload, "orders_to_redact")}
    return [delivery.event(EventType.CUSTOMER_REDACT, customer=_customer(payload), extra=extra)]


def _customer_data_request(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    request = as_object(payload.get("data_request") or {}, "data_request")
    extra = {**_shop_extra(payload), "orders": _orders(payload, "orders_requested"),
             "data_request_id": text(request, "id", "data_request.id")}
    return [delivery.event(EventType.CUSTOMER_DATA_REQUEST, customer=_customer(payload),
                           extra=extra)]


def _shop_redact(payload: dict[str, Any], delivery: Delivery) -> list[ReturnEvent]:
    return [delivery.event(EventType.SHOP_REDACT, extra=_shop_extra(payload))]


#: The three compliance topics every public Shopify app must handle.
PRIVACY_TOPICS: dict[str, Handler] = {
    "customers/redact": _customer_redact,
    "customers/data_request": _customer_data_request,
    "shop/redact": _shop_redact,
}
