"""A carrier tracking source assembled from three functions of the carrier's plugin (contract
1.1): the plugin names them, the base delegates to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from hub.tracking import TrackingSource

if TYPE_CHECKING:
    from datetime import datetime

    from hub.connectors import InboundRequest
    from hub.events import ReturnEvent


class CarrierTrackingSource(TrackingSource):
    """A :class:`~hub.tracking.TrackingSource` whose check, signing and parsing are the
    plugin's own functions, set as class attributes (plain functions or staticmethods):

    - ``verify_webhook(request, settings)``: raise :class:`hub.errors.SignatureError` unless
      the request is authentic;
    - ``sign_headers(body, settings)``: the headers that make ``body`` authentic;
    - ``carrier_events(payload, *, source, received_at)``: the events of a payload, and the
      carrier's status when it maps to none.
    """

    verify_webhook: ClassVar[Callable[[InboundRequest, Any], None]]
    sign_headers: ClassVar[Callable[[bytes, Any], dict[str, str]]]
    carrier_events: ClassVar[Callable[..., tuple[list[ReturnEvent], str | None]]]

    def check(self, request: InboundRequest) -> None:
        """The carrier's signature check (``verify_webhook``)."""
        type(self).verify_webhook(request, self.settings)

    def headers_for(self, body: bytes) -> dict[str, str]:
        """The carrier's signature headers (``sign_headers``)."""
        return type(self).sign_headers(body, self.settings)

    def events_of(self, payload: dict[str, Any], received_at: datetime
                  ) -> tuple[list[ReturnEvent], str | None]:
        """The carrier's status vocabulary mapped onto the hub's events (``carrier_events``)."""
        return type(self).carrier_events(payload, source=self.name, received_at=received_at)
