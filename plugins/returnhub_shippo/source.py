"""The Shippo source: ``track_updated`` webhooks for return parcels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import TrackingSource
from returnhub_shippo.config import ShippoSettings
from returnhub_shippo.signature import sign_headers, verify_webhook
from returnhub_shippo.track import track_events

if TYPE_CHECKING:
    from datetime import datetime

    from hub.contract import InboundRequest, ReturnEvent


class ShippoSource(TrackingSource):
    """Shippo tracking webhooks (``track_updated``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Register ``https://<public_url>/webhooks/<instance name>?token=<url_token>`` as a Shippo
    "Track Updated" webhook.
    """

    type = "shippo"
    carrier = "shippo"
    Config = ShippoSettings

    def check(self, request: InboundRequest) -> None:
        """The carrier's signature check."""
        verify_webhook(request, self.settings)

    def headers_for(self, body: bytes) -> dict[str, str]:
        """The carrier's signature headers."""
        return sign_headers(body, self.settings)

    def events_of(self, payload: dict[str, Any], received_at: datetime
                  ) -> tuple[list[ReturnEvent], str | None]:
        """The carrier's status vocabulary mapped onto the hub's events."""
        return track_events(payload, source=self.name)
