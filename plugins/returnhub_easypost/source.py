"""The EasyPost source: tracker webhooks for return parcels."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from hub.connectors import Source
from hub.wire import as_object
from returnhub_easypost.config import EasyPostSettings
from returnhub_easypost.signature import sign_headers, verify_webhook
from returnhub_easypost.tracker import tracker_events

if TYPE_CHECKING:
    from hub.connectors import ConnectorContext, ConnectorSettings, InboundRequest
    from hub.events import ReturnEvent


class EasyPostSource(Source):
    """EasyPost tracker events (``tracker.created``, ``tracker.updated``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Register ``https://<public_url>/webhooks/<instance name>`` as an EasyPost Webhook with a
    ``webhook_secret``.
    """

    type = "easypost"
    Config = EasyPostSettings

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.settings = cast(EasyPostSettings, config)

    async def verify(self, request: InboundRequest) -> None:
        """Check X-Hmac-Signature against the current or previous webhook secret."""
        verify_webhook(request, self.settings)

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Headers that make ``body`` pass :meth:`verify` (the Event id is in the body)."""
        return sign_headers(body, self.settings)

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """One event per tracker event with a mapped status, keyed by the Event ``id``."""
        payload = as_object(request.json(), None)
        events, unmapped = tracker_events(payload, source=self.name,
                                          received_at=request.received_at)
        if unmapped is not None:
            self.log.info("carrier_status_unmapped", carrier="easypost", status=unmapped[:64])
        return events
