"""Returnhub: a plugin-based integration hub for e-commerce return notifications.

The names a plugin author needs are importable from here::

    from hub import hookimpl, Source, Sink, ReturnEvent, EventType
"""

from __future__ import annotations

import pluggy

#: Marker for plugin hook implementations: ``@hookimpl def returnhub_register_connectors(...)``.
hookimpl = pluggy.HookimplMarker("returnhub")

from hub.connectors import (  # noqa: E402  (hookimpl must exist before plugins import hub)
    Connector,
    ConnectorContext,
    InboundRequest,
    Sink,
    Source,
)
from hub.errors import (  # noqa: E402
    DeliveryError,
    OutcomeUnknown,
    PermanentError,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    RequestRejected,
    SignatureError,
    TransientError,
)
from hub.events import (  # noqa: E402
    Customer,
    EventType,
    Money,
    ReturnEvent,
    ReturnItem,
    ReturnState,
    Tracking,
)
from hub.messages import DeliveryStatus, OutboundMessage, SendResult, StatusUpdate  # noqa: E402

__all__ = [
    "Connector",
    "ConnectorContext",
    "Customer",
    "DeliveryError",
    "DeliveryStatus",
    "EventType",
    "InboundRequest",
    "Money",
    "OutboundMessage",
    "OutcomeUnknown",
    "PermanentError",
    "ProviderMisconfigured",
    "ProviderUnavailable",
    "RateLimited",
    "RecipientRefused",
    "RequestRejected",
    "ReturnEvent",
    "ReturnItem",
    "ReturnState",
    "SendResult",
    "SignatureError",
    "Sink",
    "Source",
    "StatusUpdate",
    "TransientError",
    "Tracking",
    "hookimpl",
]
