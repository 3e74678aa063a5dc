"""The Shopify source: returns, refunds and privacy webhooks in; Admin GraphQL API out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from hub.contract import PRIVACY_EVENTS, Source, as_object
from returnhub_shopify import actions
from returnhub_shopify.config import ShopifySettings
from returnhub_shopify.delivery import Delivery
from returnhub_shopify.enrichment import enrich_event, return_of_reverse_fulfillment_order
from returnhub_shopify.graphql import AdminApi
from returnhub_shopify.guess import guess_topic
from returnhub_shopify.history import read_history
from returnhub_shopify.privacy import PRIVACY_TOPICS
from returnhub_shopify.queries import RETURN_OF_RFO_QUERY, RETURN_QUERY
from returnhub_shopify.signature import sign_headers, verify_webhook
from returnhub_shopify.topics import RETURN_TOPICS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hub.contract import ConnectorContext, ConnectorSettings, InboundRequest, ReturnEvent

#: Every topic the source turns into events; any other topic is acknowledged with none.
TOPICS = {**RETURN_TOPICS, **PRIVACY_TOPICS}
#: Parameters each action accepts.
_ACTION_PARAMS = {"approve": {"notify_customer"},
                  "decline": {"decline_reason", "decline_note", "notify_customer"}}


class ShopifySource(Source):
    """A Shopify store: return lifecycle, refund and privacy webhooks, enriched through the
    Admin GraphQL API; approves and declines requested returns for the rules stage.

    Register the webhook subscriptions at ``https://<public_url>/webhooks/<instance name>``.
    """

    type = "shopify"
    Config = ShopifySettings

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.settings = cast(ShopifySettings, config)

    async def health(self) -> dict[str, Any]:
        """Whether enrichment and actions are possible (an access token is configured)."""
        return {"ok": True, "admin_api": self.settings.access_token is not None}

    async def verify(self, request: InboundRequest) -> None:
        """HMAC of the raw body with the current or previous secret, then the shop domain."""
        verify_webhook(request, self.settings)

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Headers that make ``body`` pass :meth:`verify` (for ``returnhub webhook send``);
        the topic is told from the payload's shape."""
        topic = guess_topic(body)
        if topic is None:
            raise ValueError("cannot tell the Shopify topic of this payload; send it with the "
                             "X-Shopify-Topic header yourself")
        return sign_headers(body, self.settings, topic=topic, webhook_id=event_id)

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """One event per known topic, keyed by X-Shopify-Webhook-Id; other topics: none."""
        payload = as_object(request.json(), None)
        delivery = Delivery.read(request, payload, self.name)
        handler = TOPICS.get(delivery.topic)
        if handler is None:
            self.log.info("shopify_topic_ignored", topic=delivery.topic)
            return []
        return handler(payload, delivery)

    async def enrich(self, event: ReturnEvent) -> ReturnEvent:
        """Complete a return event from the Admin API (prices, customer, reasons, tracking).

        Privacy events and instances without an access token are returned unchanged. A
        dispose event first has its return found through the reverse fulfillment order.
        """
        if event.type in PRIVACY_EVENTS or self.settings.access_token is None:
            return event
        api = self._api()
        return_id = event.return_id
        if return_id is None:
            rfo_id = event.extra.get("reverse_fulfillment_order_id")
            if not rfo_id:
                return event
            data = await api.execute(RETURN_OF_RFO_QUERY, {"id": rfo_id})
            return_id = return_of_reverse_fulfillment_order(data, rfo_id)
            if return_id is None:
                self.log.warning("shopify_return_not_found", reverse_fulfillment_order=rfo_id)
                return event
        node = (await api.execute(RETURN_QUERY, {"id": return_id})).get("return")
        if not isinstance(node, dict):
            self.log.warning("shopify_return_not_found", return_id=return_id)
            return event
        return enrich_event(event, node)

    def poll(self, cursor: str | None) -> AsyncIterator[tuple[ReturnEvent | None, str]] | None:
        """The store's returns, by the orders changed after ``cursor`` (an ``updatedAt``):
        with ``poll_interval_seconds`` set, a store connected late has its history read (and,
        per the core's ``start``, skipped or backfilled); None without an access token."""
        if self.settings.access_token is None:
            return None
        return read_history(self._api(), cursor, self.name, self.log)

    async def act(self, action: str, event: ReturnEvent, **params: Any) -> dict[str, Any]:
        """``approve`` (params: notify_customer) or ``decline`` (params: decline_reason —
        FINAL_SALE, RETURN_PERIOD_ENDED or OTHER —, decline_note, notify_customer)."""
        if action not in _ACTION_PARAMS:
            return await super().act(action, event, **params)
        unknown = set(params) - _ACTION_PARAMS[action]
        if unknown:
            raise actions.ShopifyActionError(
                f"{action} takes no parameter {', '.join(sorted(unknown))}", provider=self.name)
        if not event.return_id:
            raise actions.ShopifyActionError(f"cannot {action}: the event names no return",
                                             provider=self.name)
        notify = bool(params.get("notify_customer", False))
        if action == "approve":
            mutation = actions.approve(event.return_id, notify_customer=notify)
        else:
            mutation = actions.decline(
                event.return_id, provider=self.name, notify_customer=notify,
                decline_reason=params.get("decline_reason", "OTHER"),
                decline_note=params.get("decline_note"))
        result = await actions.run(self._api(), mutation, self.name)
        self.log.info("shopify_return_actioned", action=action, return_id=event.return_id)
        return result

    def _api(self) -> AdminApi:
        return AdminApi(self.context.http, self.settings, self.name)
