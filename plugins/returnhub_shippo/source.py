"""The Shippo source: ``track_updated`` webhooks for return parcels."""

from __future__ import annotations

from hub.contract import CarrierTrackingSource
from returnhub_shippo.config import ShippoSettings
from returnhub_shippo.signature import sign_headers, verify_webhook
from returnhub_shippo.track import track_events


class ShippoSource(CarrierTrackingSource):
    """Shippo tracking webhooks (``track_updated``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Register ``https://<public_url>/webhooks/<instance name>?token=<url_token>`` as a Shippo
    "Track Updated" webhook.
    """

    type = "shippo"
    carrier = "shippo"
    Config = ShippoSettings

    verify_webhook = staticmethod(verify_webhook)
    sign_headers = staticmethod(sign_headers)
    carrier_events = staticmethod(track_events)
