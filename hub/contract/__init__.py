"""The plugin contract: everything a Returnhub plugin may import, and nothing else.

A connector package imports only from here (and from :mod:`hub.contract.testing` in its
tests)::

    from hub.contract import hookimpl, Sink, OutboundMessage, SendResult, RecipientRefused

The rest of ``hub`` (the store, processing, delivery, the web app) is the core's own and may
change in any release; this module follows :data:`PLUGIN_API_VERSION` (semantic versioning).
"""

from __future__ import annotations

from hub import hookimpl
from hub.connectors import (
    Connector,
    ConnectorContext,
    ConnectorSettings,
    InboundRequest,
    Sink,
    Source,
)
from hub.contact import email_problem, is_email, phone_problem, to_e164
from hub.content.sms import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENDED,
    UCS2,
    SegmentCount,
    count_segments,
    encoding_of,
)
from hub.contract.email import EmailFields, check_email, refuse_line_breaks
from hub.contract.http_sink import HttpAnswer, HttpSink, client_timeout
from hub.contract.http_status import StatusTable, excerpt, parse_retry_after, retry_after_from
from hub.contract.settings import (
    HttpSinkSettings,
    SenderSettings,
    WebhookSecretSettings,
    http_url,
)
from hub.contract.status import (
    event_time,
    hashed_event_id,
    optional_text,
    parse_batch,
    reason_text,
)
from hub.contract.tracking import CarrierTrackingSource
from hub.errors import (
    DeliveryError,
    MessageRejected,
    OutcomeUnknown,
    PermanentError,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    RequestRejected,
    SignatureError,
    TransientError,
    transport_error,
)
from hub.events import (
    PRIVACY_EVENTS,
    Customer,
    EventType,
    Money,
    ReturnEvent,
    ReturnItem,
    ReturnState,
    Tracking,
)
from hub.jsonutil import dumps, loads
from hub.logs import get_logger, redact_text
from hub.messages import DeliveryStatus, OutboundMessage, SendResult, StatusUpdate
from hub.recipients import Recipient
from hub.security import b64_hmac_matches, hex_hmac_matches, hmac_digest
from hub.state import PluginState, StateError, StateUnavailable
from hub.tracking import TrackingSource
from hub.wire import as_list, as_object, build, decimal, integer, money, reject, text, timestamp

#: The version of this contract (semantic versioning). An installed plugin declares the range it
#: supports in its entry-point module (``RETURNHUB_API = ">=1.0,<2"``); the hub refuses to load
#: one without a range or whose range excludes this version, naming both (hub/plugin_api.py).
PLUGIN_API_VERSION = "1.1.0"

__all__ = [
    "GSM7",
    "GSM7_BASIC",
    "GSM7_EXTENDED",
    "PLUGIN_API_VERSION",
    "UCS2",
    "SegmentCount",
    "count_segments",
    "encoding_of",
    "PRIVACY_EVENTS",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "Customer",
    "DeliveryError",
    "DeliveryStatus",
    "EventType",
    "InboundRequest",
    "MessageRejected",
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
    "TrackingSource",
    "CarrierTrackingSource",
    "TransientError",
    "Tracking",
    "as_list",
    "as_object",
    "b64_hmac_matches",
    "build",
    "decimal",
    "dumps",
    "email_problem",
    "get_logger",
    "hex_hmac_matches",
    "hmac_digest",
    "hookimpl",
    "integer",
    "is_email",
    "loads",
    "money",
    "phone_problem",
    "redact_text",
    "reject",
    "text",
    "timestamp",
    "to_e164",
    "transport_error",
    # What the context gives (hub/context.py, state.py) and open channels (recipients.py).
    "PluginState",
    "Recipient",
    "StateError",
    "StateUnavailable",
    # Bases for the common cases (hub/contract/http_sink.py, email.py, status.py, settings.py).
    "EmailFields",
    "HttpAnswer",
    "HttpSink",
    "HttpSinkSettings",
    "SenderSettings",
    "StatusTable",
    "WebhookSecretSettings",
    "check_email",
    "client_timeout",
    "event_time",
    "excerpt",
    "hashed_event_id",
    "http_url",
    "optional_text",
    "parse_batch",
    "parse_retry_after",
    "reason_text",
    "refuse_line_breaks",
    "retry_after_from",
]
