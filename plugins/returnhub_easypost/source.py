"""The EasyPost source: tracker webhooks for return parcels."""

from __future__ import annotations

from hub.contract import CarrierTrackingSource
from returnhub_easypost.config import EasyPostSettings
from returnhub_easypost.signature import sign_headers, verify_webhook
from returnhub_easypost.tracker import tracker_events


class EasyPostSource(CarrierTrackingSource):
    """EasyPost tracker events (``tracker.created``, ``tracker.updated``) as carrier events.

    Events carry no return id: the core matches them to a return by ``tracking.number``.
    Register ``https://<public_url>/webhooks/<instance name>`` as an EasyPost Webhook with a
    ``webhook_secret``.
    """

    type = "easypost"
    carrier = "easypost"
    Config = EasyPostSettings

    verify_webhook = staticmethod(verify_webhook)
    sign_headers = staticmethod(sign_headers)
    carrier_events = staticmethod(tracker_events)
