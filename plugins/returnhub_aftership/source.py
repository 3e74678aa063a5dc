"""The AfterShip Tracking source: carrier-agnostic tracking webhooks for return parcels."""

from __future__ import annotations

from hub.contract import CarrierTrackingSource
from returnhub_aftership.config import AfterShipSettings
from returnhub_aftership.signature import sign_headers, verify_webhook
from returnhub_aftership.tracking import tracking_events


class AfterShipSource(CarrierTrackingSource):
    """AfterShip Tracking webhooks (``tracking_update``, ``edd_revise``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Add ``https://<public_url>/webhooks/<instance name>`` under AfterShip → Settings → Webhooks.
    """

    type = "aftership"
    carrier = "aftership"
    Config = AfterShipSettings

    verify_webhook = staticmethod(verify_webhook)
    sign_headers = staticmethod(sign_headers)
    carrier_events = staticmethod(tracking_events)
