"""The EasyPost source: tracker webhooks for return parcels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import TrackingSource
from returnhub_easypost.config import EasyPostSettings
from returnhub_easypost.signature import sign_headers, verify_webhook
from returnhub_easypost.tracker import tracker_events

if TYPE_CHECKING:
    from datetime import datetime

    from hub.contract import InboundRequest, ReturnEvent


class EasyPostSource(TrackingSource):
    """EasyPost tracker events (``tracker.created``, ``tracker.updated``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Register ``https://<public_url>/webhooks/<instance name>`` as an EasyPost Webhook with a
    ``webhook_secret``.
    """

    type = "easypost"
    carrier = "easypost"
    Config = EasyPostSettings

    def check(self, request: InboundRequest) -> None:
        """The carrier's signature check."""
        verify_webhook(request, self.settings)

    def headers_for(self, body: bytes) -> dict[str, str]:
        """The carrier's signature headers."""
        return sign_headers(body, self.settings)

    def events_of(self, payload: dict[str, Any], received_at: datetime
                  ) -> tuple[list[ReturnEvent], str | None]:
        """The carrier's status vocabulary mapped onto the hub's events."""
        return tracker_events(payload, source=self.name, received_at=received_at)
