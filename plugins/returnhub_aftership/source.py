"""The AfterShip Tracking source: carrier-agnostic tracking webhooks for return parcels."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from hub.connectors import Source
from hub.wire import as_object
from returnhub_aftership.config import AfterShipSettings
from returnhub_aftership.signature import sign_headers, verify_webhook
from returnhub_aftership.tracking import tracking_events

if TYPE_CHECKING:
    from hub.connectors import ConnectorContext, ConnectorSettings, InboundRequest
    from hub.events import ReturnEvent


class AfterShipSource(Source):
    """AfterShip Tracking webhooks (``tracking_update``, ``edd_revise``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Add ``https://<public_url>/webhooks/<instance name>`` under AfterShip → Settings → Webhooks.
    """

    type = "aftership"
    Config = AfterShipSettings

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.settings = cast(AfterShipSettings, config)

    async def verify(self, request: InboundRequest) -> None:
        """Check aftership-hmac-sha256 against the current or previous webhook secret."""
        verify_webhook(request, self.settings)

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Headers that make ``body`` pass :meth:`verify` (the event id is in the body)."""
        return sign_headers(body, self.settings)

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """One event per update with a mapped tag, keyed by ``event_id``."""
        payload = as_object(request.json(), None)
        events, unmapped = tracking_events(payload, source=self.name,
                                           received_at=request.received_at)
        if unmapped is not None:
            self.log.info("carrier_status_unmapped", carrier="aftership", status=unmapped[:64])
        return events
