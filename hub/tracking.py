"""A base for carrier tracking webhooks: signed JSON whose events carry a tracking number, not
a return id (the core matches them to a return by ``tracking.number``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from hub.connectors import Source
from hub.wire import as_object

if TYPE_CHECKING:
    from datetime import datetime

    from hub.connectors import ConnectorContext, ConnectorSettings, InboundRequest
    from hub.events import ReturnEvent


class TrackingSource(Source):
    """Verifies, signs and parses through three functions of the carrier's plugin.

    Subclasses set ``carrier`` and implement :meth:`check`, :meth:`headers_for` and
    :meth:`events_of`; statuses the carrier sends but the hub does not map are acknowledged and
    logged, never stored.
    """

    #: The carrier's name, for logs.
    carrier: ClassVar[str]

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.settings: Any = config

    def check(self, request: InboundRequest) -> None:
        """Raise :class:`hub.errors.SignatureError` unless the request is authentic."""
        raise NotImplementedError

    def headers_for(self, body: bytes) -> dict[str, str]:
        """Headers that make ``body`` authentic."""
        raise NotImplementedError

    def events_of(self, payload: dict[str, Any], received_at: datetime
                  ) -> tuple[list[ReturnEvent], str | None]:
        """The events of a payload, and the carrier's status when it maps to none."""
        raise NotImplementedError

    async def verify(self, request: InboundRequest) -> None:
        """Check the carrier's signature (see :meth:`check`)."""
        self.check(request)

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Headers that make ``body`` pass :meth:`verify` (the event id is in the body)."""
        return self.headers_for(body)

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """The carrier's events with a mapped status."""
        events, unmapped = self.events_of(as_object(request.json(), None), request.received_at)
        if unmapped is not None:
            self.log.info("carrier_status_unmapped", carrier=self.carrier, status=unmapped[:64])
        return events
