"""The base classes every connector derives from: :class:`Source` and :class:`Sink`.

A plugin registers connector *types* through the ``returnhub_register_connectors`` hook; the
admin names *instances* of them in config. The core builds one object per instance, validates
its settings with the type's ``Config`` model, and awaits its async methods. pluggy itself stays
out of the hot path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hub.context import ConnectorContext
from hub.recipients import address_by_rule, default_rule

if TYPE_CHECKING:
    from hub.events import ReturnEvent
    from hub.messages import DeliveryStatus, OutboundMessage, SendResult, StatusUpdate
    from hub.recipients import Recipient


class ConnectorSettings(BaseModel):
    """Base for a connector's settings model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(slots=True)
class InboundRequest:
    """A webhook request as the hub received it, body already read (and size-limited).

    ``url`` is the public URL the platform posted to (what Twilio and Mandrill sign); ``body``
    is the raw bytes every HMAC scheme covers. Header lookup is case-insensitive.
    """

    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: datetime
    remote: str | None = None
    #: Form fields, when the body is application/x-www-form-urlencoded (Twilio, Mandrill).
    form: Mapping[str, str] | None = None

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`hub.errors.RequestRejected` (400) if it is
        not."""
        from hub.jsonutil import loads_body

        return loads_body(self.body)


class Connector:
    """Behaviour shared by sources and sinks.

    Subclasses set ``type`` (the config ``type`` value, snake case) and ``Config`` (a
    :class:`ConnectorSettings` subclass with a ``description`` on every field).
    """

    #: The value of ``type`` in config that selects this class, e.g. ``"sendgrid"``.
    type: ClassVar[str]
    #: The settings model; validated at start-up, errors name ``<kind>.<instance>.<field>``.
    Config: ClassVar[type[ConnectorSettings]] = ConnectorSettings

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        self.name = context.name
        self.log = context.log

    async def start(self) -> None:
        """Open clients and pools. Called once before the first request; may do I/O."""

    async def close(self) -> None:
        """Release what :meth:`start` opened. Called once at shut-down."""

    async def health(self) -> dict[str, Any]:
        """A cheap readiness report for the admin surfaces; must not send anything."""
        return {"ok": True}


class Source(Connector):
    """A platform that tells the hub about returns: by webhook, by polling, or both."""

    #: Whether this source accepts webhooks at ``POST /webhooks/<instance>``.
    accepts_webhooks: ClassVar[bool] = True
    #: Content types its webhooks come with; others are answered 415 (None: any).
    webhook_content_types: ClassVar[frozenset[str] | None] = frozenset({"application/json"})

    async def verify(self, request: InboundRequest) -> None:
        """Check the request's signature; raise :class:`hub.errors.SignatureError` if it fails.

        Must be constant-time and must turn every malformed header into SignatureError (a 401),
        never another exception.
        """
        raise NotImplementedError

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """Turn a verified request into normalized events (an empty list acknowledges a topic the
        hub ignores). Raise :class:`hub.errors.RequestRejected` naming the field for bad input.
        Each event's ``source_event_id`` must be the platform's stable delivery id.
        Must not do I/O: the platform is waiting for its answer.
        """
        raise NotImplementedError

    async def enrich(self, event: ReturnEvent) -> ReturnEvent:
        """Fetch what the webhook lacks (amounts, the customer's contact) before rules run.

        Called by a worker, never by ingress; may do I/O. Raise
        :class:`hub.errors.TransientError` to have the event retried later.
        """
        return event

    def poll(self, cursor: str | None) -> AsyncIterator[tuple[ReturnEvent | None, str]] | None:
        """Optional: yield ``(event, new_cursor)`` pairs newer than ``cursor``; an event of None
        moves the cursor past a record the source ignores.

        The core persists the cursor after each event is durably in the inbox, so a restart
        resumes where it stopped. Return None (the default) for a webhook-only source.
        """
        return None

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Optional, for tools and tests: the headers that make ``body`` pass :meth:`verify`
        (``returnhub webhook send`` uses it). Sources whose platform signs with a key the hub
        does not hold leave it unimplemented."""
        raise NotImplementedError(f"{self.type} cannot sign test requests")

    async def act(self, action: str, event: ReturnEvent, **params: Any) -> dict[str, Any]:
        """Carry out an action upstream (``approve``, ``decline``) for the rules stage.

        Raise :class:`hub.errors.TransientError` to have it retried.
        """
        raise NotImplementedError(f"{self.type} does not support the action {action!r}")


class Sink(Connector):
    """A provider that delivers messages on one or more channels."""

    #: The channels this sink can deliver on, e.g. ``frozenset({"email"})``; any name works.
    channels: ClassVar[frozenset[str]] = frozenset()
    #: Where each channel finds the recipient's address, when not the default
    #: (:mod:`hub.recipients`): ``"email"``, ``"phone"``, ``"customer_key"`` or
    #: ``"attribute:<name>"`` (``customer.attributes[<name>]``), e.g.
    #: ``{"slack": "attribute:slack_id"}``. A channel left out reads email, phone (sms), the
    #: customer key (portal), or the attribute named after the channel.
    recipients: ClassVar[Mapping[str, str]] = {}
    #: True when sending the same ``message_id`` twice delivers it once (the sink dedupes), so
    #: a crashed worker's message may simply be sent again.
    idempotent: ClassVar[bool] = False
    #: Content types of the provider's status webhooks; others are answered 415 (None: any).
    webhook_content_types: ClassVar[frozenset[str] | None] = None

    @classmethod
    def recipient_address(cls, channel: str, recipient: Recipient) -> str | None:
        """Where ``channel`` reaches ``recipient`` (None: it cannot; the message is skipped
        with "no <channel> address"). By default the rule in :attr:`recipients`; override for
        one a rule cannot say (called while planning: no I/O)."""
        return address_by_rule(cls.recipients.get(channel) or default_rule(channel), recipient)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message; return the provider's id, or raise a
        :class:`hub.errors.DeliveryError` subclass that says what the dispatcher must do.
        """
        raise NotImplementedError

    async def reconcile(self, message: OutboundMessage, provider_message_id: str | None
                        ) -> DeliveryStatus | None:
        """Optional: ask the provider what became of a message whose send had an unknown
        outcome (a timeout after the request left, a worker that died mid-send). Return the
        message's status, ``DeliveryStatus.NOT_FOUND`` when the provider certainly does not have
        it (sending is then safe), or None when it cannot tell (the default)."""
        return None

    async def verify_status(self, request: InboundRequest) -> None:
        """Check the signature of a provider status webhook (raise SignatureError)."""
        raise NotImplementedError(f"{self.type} receives no status webhooks")

    async def parse_status(self, request: InboundRequest) -> list[StatusUpdate]:
        """Turn a verified provider status webhook into :class:`hub.messages.StatusUpdate` s."""
        raise NotImplementedError(f"{self.type} receives no status webhooks")

    @property
    def accepts_webhooks(self) -> bool:
        """True when the subclass implements provider status webhooks."""
        return type(self).parse_status is not Sink.parse_status
