"""The AfterShip Tracking source: carrier-agnostic tracking webhooks for return parcels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import TrackingSource
from returnhub_aftership.config import AfterShipSettings
from returnhub_aftership.signature import sign_headers, verify_webhook
from returnhub_aftership.tracking import tracking_events

if TYPE_CHECKING:
    from datetime import datetime

    from hub.contract import InboundRequest, ReturnEvent


class AfterShipSource(TrackingSource):
    """AfterShip Tracking webhooks (``tracking_update``, ``edd_revise``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Add ``https://<public_url>/webhooks/<instance name>`` under AfterShip → Settings → Webhooks.
    """

    type = "aftership"
    carrier = "aftership"
    Config = AfterShipSettings

    def check(self, request: InboundRequest) -> None:
        """The carrier's signature check."""
        verify_webhook(request, self.settings)

    def headers_for(self, body: bytes) -> dict[str, str]:
        """The carrier's signature headers."""
        return sign_headers(body, self.settings)

    def events_of(self, payload: dict[str, Any], received_at: datetime
                  ) -> tuple[list[ReturnEvent], str | None]:
        """The carrier's status vocabulary mapped onto the hub's events."""
        return tracking_events(payload, source=self.name, received_at=received_at)
