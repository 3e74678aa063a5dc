"""The Shippo source: ``track_updated`` webhooks for return parcels."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from hub.connectors import Source
from hub.wire import as_object
from returnhub_shippo.config import ShippoSettings
from returnhub_shippo.signature import sign_headers, verify_webhook
from returnhub_shippo.track import track_events

if TYPE_CHECKING:
    from hub.connectors import ConnectorContext, ConnectorSettings, InboundRequest
    from hub.events import ReturnEvent


class ShippoSource(Source):
    """Shippo tracking webhooks (``track_updated``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Register ``https://<public_url>/webhooks/<instance name>?token=<url_token>`` as a Shippo
    "Track Updated" webhook.
    """

    type = "shippo"
    Config = ShippoSettings

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.settings = cast(ShippoSettings, config)

    async def verify(self, request: InboundRequest) -> None:
        """Check the URL token and/or Shippo-Auth-Signature, whichever are configured."""
        verify_webhook(request, self.settings)

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Shippo-Auth-Signature when ``hmac_secret`` is set; a URL token goes in the URL."""
        return sign_headers(body, self.settings)

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """One event per status update with a mapped status."""
        payload = as_object(request.json(), None)
        events, unmapped = track_events(payload, source=self.name)
        if unmapped is not None:
            self.log.info("carrier_status_unmapped", carrier="shippo", status=unmapped[:64])
        return events
