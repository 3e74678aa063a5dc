"""A fake Shopify Admin GraphQL API and a signed-webhook factory, for tests.

:class:`FakeShopifyAdmin` serves ``POST /admin/api/<version>/graphql.json`` on 127.0.0.1 the
way Shopify does: it checks ``X-Shopify-Access-Token`` (401) and the API version (404), answers
the Return and ReverseFulfillmentOrder lookups from returns a test seeds with
:func:`return_node`, runs ``returnApproveRequest`` / ``returnDeclineRequest`` (with Shopify's
``userErrors`` when the return is not REQUESTED) and records them in ``mutations``. Tell it to
throttle (HTTP 200 with a ``THROTTLED`` error, as Shopify does) or to fail with any status.

It does not parse GraphQL: it recognises the operation by its root field and returns the whole
seeded node, so seed what the client under test selects. HTTP faults (``fail_next``,
``rate_limit_next``, ``set_latency``, ``go_silent``) come from
:class:`~hub.testing.fakes_common.FakeProvider`.

    async with FakeShopifyAdmin(access_token="shpat_x") as fake:
        fake.add_return(return_node(1, status="REQUESTED"))
        ...  # point the source's admin_url at fake.url

Run alone: ``python -m hub.testing.fake_shopify --port 0`` (prints its URL as JSON).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.connectors import InboundRequest
from hub.testing.fakes_common import FakeProvider, base_argument_parser, run_fake
from hub.testing.signing import shopify_webhook

DEFAULT_TOKEN = "shpat_fake_admin_token"  # noqa: S105 - the fake's published test token
DEFAULT_SHOP = "returnhub-test.myshopify.com"
DEFAULT_VERSION = "2025-10"
#: ReturnDeclineReason values.
DECLINE_REASONS = frozenset({"FINAL_SALE", "RETURN_PERIOD_ENDED", "OTHER"})
_COST = {"requestedQueryCost": 12, "actualQueryCost": 8,
         "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 1992.0,
                            "restoreRate": 100.0}}


def _money(amount: str, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": currency}}


def return_node(number: int, *, status: str = "REQUESTED", order_number: int = 1001,
                created_at: str = "2025-03-10T09:00:00Z", currency: str = "USD",
                order_total: str = "129.00", email: str | None = "jane.doe@example.com",
                phone: str | None = "+14155550100", customer_number: int | None = 7001,
                first_name: str = "Jane", last_name: str = "Doe", locale: str = "en",
                tags: tuple[str, ...] = ("vip",), orders_count: int = 3,
                country: str | None = "US", ordered_at: str = "2025-02-20T12:00:00Z",
                delivered_at: str | None = "2025-02-25T15:30:00Z",
                lines: list[dict[str, Any]] | None = None, tracking: dict[str, str] | None = None,
                rfo_number: int | None = None) -> dict[str, Any]:
    """A Return node shaped like the Admin API's answer to the Shopify source's query.

    ``lines`` items take ``sku``, ``name``, ``quantity``, ``price``, ``reason`` and
    ``product_type``; ``tracking`` takes ``carrier``, ``number``, ``url`` and ``label_url``.
    """
    lines = lines if lines is not None else [
        {"sku": "TEE-BLU-M", "name": "Blue tee - M", "quantity": 1, "price": "29.00",
         "reason": "SIZE_TOO_SMALL", "product_type": "Shirts"}]
    deliverable = None
    if tracking is not None:
        deliverable = {
            "tracking": {"carrierName": tracking.get("carrier"), "number": tracking.get("number"),
                         "url": tracking.get("url")},
            "label": {"publicFileUrl": tracking.get("label_url")},
        }
    customer = None
    if customer_number is not None:
        customer = {"id": f"gid://shopify/Customer/{customer_number}", "email": email,
                    "phone": phone, "firstName": first_name, "lastName": last_name,
                    "locale": locale, "tags": list(tags), "numberOfOrders": str(orders_count)}
    return {
        "id": f"gid://shopify/Return/{number}",
        "name": f"#{order_number}-R{number % 100 or 1}",
        "status": status,
        "createdAt": created_at,
        "order": {
            "id": f"gid://shopify/Order/{order_number}00",
            "name": f"#{order_number}",
            "email": email,
            "phone": phone,
            "createdAt": ordered_at,
            "totalPriceSet": _money(order_total, currency),
            "shippingAddress": {"countryCodeV2": country} if country else None,
            "customer": customer,
            "fulfillments": [{"createdAt": ordered_at, "deliveredAt": delivered_at}],
        },
        "returnLineItems": {"nodes": [{
            "quantity": line.get("quantity", 1),
            "returnReason": line.get("reason", "UNKNOWN"),
            "returnReasonNote": line.get("reason_note", ""),
            "customerNote": line.get("customer_note"),
            "fulfillmentLineItem": {"lineItem": {
                "sku": line.get("sku"), "name": line.get("name"),
                "product": {"productType": line.get("product_type", "")},
                "originalUnitPriceSet": _money(line.get("price", "0.00"), currency),
            }},
        } for line in lines]},
        "reverseFulfillmentOrders": {"nodes": [{
            "id": f"gid://shopify/ReverseFulfillmentOrder/{rfo_number or number + 500}",
            "reverseDeliveries": {"nodes": [{"deliverable": deliverable}] if deliverable else []},
        }]},
    }


class FakeShopifyAdmin(FakeProvider):
    """An Admin GraphQL API for one shop, served on 127.0.0.1 (see the module docstring).

    ``records`` holds every mutation received: its name, its input and whether it applied.
    """

    provider = "shopify"

    def __init__(self, *, access_token: str = DEFAULT_TOKEN,
                 api_versions: tuple[str, ...] = (DEFAULT_VERSION,), host: str = "127.0.0.1",
                 port: int = 0, record_path: str | Path | None = None) -> None:
        super().__init__(host=host, port=port, record_path=record_path)
        self.access_token = access_token
        self.api_versions = set(api_versions)
        #: Seeded returns by GID; mutations change their ``status``.
        self.returns: dict[str, dict[str, Any]] = {}
        #: Every GraphQL call that passed authentication: operation name and variables.
        self.requests: list[dict[str, Any]] = []
        self._throttled = 0

    @property
    def mutations(self) -> list[dict[str, Any]]:
        """The mutations received (``records`` without their receipt times)."""
        return [{k: v for k, v in r.items() if k != "received_at"} for r in self.records]

    def add_return(self, node: dict[str, Any]) -> str:
        """Seed a Return node (see :func:`return_node`); returns its GID."""
        self.returns[node["id"]] = node
        return node["id"]

    def throttle(self, times: int = 1) -> None:
        """Answer the next ``times`` calls as Shopify throttles GraphQL: HTTP 200 with a
        ``THROTTLED`` error and the bucket's state in ``extensions.cost``."""
        self._throttled += times

    def add_routes(self, app: web.Application) -> None:
        """The Admin GraphQL endpoint, for any API version (unsupported ones answer 404)."""
        app.router.add_post("/admin/api/{version}/graphql.json", self._graphql)

    def error_response(self, status: int) -> web.Response:
        """Shopify's error body for an injected failure."""
        return web.json_response({"errors": "Internal Server Error" if status >= 500
                                  else "injected failure"}, status=status)

    # -- the endpoint ------------------------------------------------------------------------
    async def _graphql(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Shopify-Access-Token") != self.access_token:
            return web.json_response({"errors": "[API] Invalid API key or access token "
                                      "(unrecognized login or wrong password)"}, status=401)
        if request.match_info["version"] not in self.api_versions:
            return web.json_response({"errors": "Not Found"}, status=404)
        if self._throttled:
            self._throttled -= 1
            return web.json_response(_throttled())
        try:
            document = await request.json()
            query, variables = document["query"], document.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return web.json_response({"errors": [{"message": "Parse error on request body"}]},
                                     status=400)
        operation = _root_field(query)
        self.requests.append({"operation": operation, "variables": variables})
        handler = {
            "returnApproveRequest": self._approve,
            "returnDeclineRequest": self._decline,
            "reverseFulfillmentOrder": self._rfo,
            "return": self._return,
            "orders": self._orders,
        }.get(operation)
        if handler is None:
            return _graphql_error("Field doesn't exist on type 'QueryRoot'", "undefinedField")
        return handler(variables)

    def _return(self, variables: dict[str, Any]) -> web.Response:
        return_id = variables.get("id")
        if not _is_gid(return_id, "Return"):
            return _graphql_error("Variable $id of type ID! was provided invalid value",
                                  "INVALID_VARIABLE")
        return _data({"return": self.returns.get(return_id)})

    def _orders(self, variables: dict[str, Any]) -> web.Response:
        """Orders (those of the seeded returns) by ``updatedAt`` (the order's ``updatedAt``, else
        the return's ``createdAt``), after ``updated_at:>'<time>'`` when the query says so, 2
        per page."""
        orders: dict[str, dict[str, Any]] = {}
        for node in self.returns.values():
            order = orders.setdefault(node["order"]["id"], {
                "id": node["order"]["id"],
                "updatedAt": node["order"].get("updatedAt") or node["createdAt"],
                "returns": {"nodes": []}})
            order["returns"]["nodes"].append({"id": node["id"]})
        chosen = sorted(orders.values(), key=lambda o: (o["updatedAt"], o["id"]))
        match = re.search(r"updated_at:>'([^']+)'", variables.get("query") or "")
        if match:
            chosen = [o for o in chosen if o["updatedAt"] > match.group(1)]
        start = int(variables.get("after") or 0)
        page = chosen[start:start + 2]
        more = start + 2 < len(chosen)
        return _data({"orders": {"nodes": page, "pageInfo": {
            "hasNextPage": more, "endCursor": str(start + 2) if more else None}}})

    def _rfo(self, variables: dict[str, Any]) -> web.Response:
        rfo_id = variables.get("id")
        if not _is_gid(rfo_id, "ReverseFulfillmentOrder"):
            return _graphql_error("Variable $id of type ID! was provided invalid value",
                                  "INVALID_VARIABLE")
        owner = next((node for node in self.returns.values()
                      if rfo_id in _rfo_ids(node)), None)
        if owner is None:
            return _data({"reverseFulfillmentOrder": None})
        order_id = owner["order"]["id"]
        siblings = [{"id": node["id"], "reverseFulfillmentOrders": {
            "nodes": [{"id": i} for i in _rfo_ids(node)]}}
            for node in self.returns.values() if node["order"]["id"] == order_id]
        return _data({"reverseFulfillmentOrder": {"id": rfo_id,
                                                   "order": {"returns": {"nodes": siblings}}}})

    def _approve(self, variables: dict[str, Any]) -> web.Response:
        payload = variables.get("input") or {}
        return self._transition("returnApproveRequest", payload, "OPEN")

    def _decline(self, variables: dict[str, Any]) -> web.Response:
        payload = variables.get("input") or {}
        if payload.get("declineReason") not in DECLINE_REASONS:
            return _graphql_error("Variable $input of type ReturnDeclineRequestInput! was "
                                  "provided invalid value for declineReason", "INVALID_VARIABLE")
        return self._transition("returnDeclineRequest", payload, "DECLINED")

    def _transition(self, name: str, payload: dict[str, Any], status: str) -> web.Response:
        node = self.returns.get(payload.get("id"))
        errors = []
        if node is None:
            errors.append({"field": ["input", "id"], "message": "Return does not exist.",
                           "code": "NOT_FOUND"})
        elif node["status"] != "REQUESTED":
            verb = "approvable" if status == "OPEN" else "declinable"
            errors.append({"field": ["input", "id"], "code": "INVALID_STATE",
                           "message": f"Return is not {verb}. Only returns with status "
                                      "REQUESTED can be changed."})
        self.record({"name": name, "input": payload, "applied": not errors})
        if errors:
            return _data({name: {"return": None, "userErrors": errors}})
        node["status"] = status
        if status == "DECLINED":
            node["decline"] = {"reason": payload["declineReason"],
                               "note": payload.get("declineNote")}
        return _data({name: {"return": {"id": node["id"], "status": status}, "userErrors": []}})


def _root_field(query: str) -> str | None:
    """The first field selected by the operation (its root field)."""
    body = query[query.find("{") + 1:] if "{" in query else ""
    match = re.match(r"\s*(\w+)", body)
    return match.group(1) if match else None


def _is_gid(value: Any, kind: str) -> bool:
    return isinstance(value, str) and re.fullmatch(rf"gid://shopify/{kind}/\d+", value) is not None


def _rfo_ids(node: dict[str, Any]) -> list[str]:
    return [r["id"] for r in node.get("reverseFulfillmentOrders", {}).get("nodes", [])]


def _data(data: dict[str, Any]) -> web.Response:
    return web.json_response({"data": data, "extensions": {"cost": _COST}})


def _graphql_error(message: str, code: str) -> web.Response:
    return web.json_response({"errors": [{"message": message, "extensions": {"code": code}}]})


def _throttled() -> dict[str, Any]:
    return {
        "errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
        "extensions": {"cost": {"requestedQueryCost": 752, "actualQueryCost": None,
                                "throttleStatus": {"maximumAvailable": 2000.0,
                                                   "currentlyAvailable": 652.0,
                                                   "restoreRate": 100.0}}},
    }


class ShopifyWebhookFactory:
    """Builds signed Shopify webhook deliveries for one shop and app secret."""

    def __init__(self, *, secret: str, shop_domain: str = DEFAULT_SHOP,
                 api_version: str = DEFAULT_VERSION) -> None:
        self.secret = secret
        self.shop_domain = shop_domain
        self.api_version = api_version

    def request(self, topic: str, payload: Any, **overrides: Any) -> InboundRequest:
        """A delivery of ``topic`` (``payload`` as dict, or exact bytes), signed with the secret.

        ``overrides`` are passed to :func:`hub.testing.signing.shopify_webhook` (``secret``,
        ``shop_domain``, ``webhook_id``, ``triggered_at``, extra headers...).
        """
        options = {"secret": self.secret, "shop_domain": self.shop_domain,
                   "api_version": self.api_version, **overrides}
        return shopify_webhook(topic, payload, **options)

    def headers_and_body(self, topic: str, payload: Any, **overrides: Any
                         ) -> tuple[dict[str, str], bytes]:
        """The same delivery as plain headers and body, e.g. to POST it to a running hub."""
        request = self.request(topic, payload, **overrides)
        return dict(request.headers), request.body


def main() -> None:
    """``python -m hub.testing.fake_shopify``: serve an empty shop until interrupted."""
    parser = base_argument_parser("Fake Shopify Admin GraphQL API")
    parser.add_argument("--access-token", default=DEFAULT_TOKEN)
    parser.add_argument("--api-version", action="append", default=None)
    args = parser.parse_args()
    fake = FakeShopifyAdmin(access_token=args.access_token,
                            api_versions=tuple(args.api_version or (DEFAULT_VERSION,)),
                            host=args.host, port=args.port, record_path=args.record)
    run_fake(fake, args.latency)


if __name__ == "__main__":
    main()
