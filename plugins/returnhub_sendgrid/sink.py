"""The ``sendgrid`` sink: v3 Mail Send on the hub's shared aiohttp session."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import aiohttp
import orjson
import sendgrid

from hub.contract import SendResult, SignatureError, Sink
from returnhub_sendgrid.config import SendGridSettings
from returnhub_sendgrid.errors import error_for_exception, error_for_response
from returnhub_sendgrid.events import parse_events
from returnhub_sendgrid.payload import build_mail
from returnhub_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, EventWebhookVerifier

if TYPE_CHECKING:
    from hub.contract import ConnectorContext, InboundRequest, OutboundMessage, StatusUpdate

#: What the official client sends (sendgrid/base_interface.py), so SendGrid sees the same client.
USER_AGENT = f"sendgrid/{sendgrid.__version__};python"


class SendGridSink(Sink):
    """Email through SendGrid.

    The request body is the SDK's ``Mail`` helper's, built as a dict, and posted on the hub's shared
    aiohttp session with the SDK's headers: the SDK's own client blocks and opens a connection
    per message (see docs/sinks.md for the measurements behind this choice).
    """

    type: ClassVar[str] = "sendgrid"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    #: The provider posts its status webhooks with this content type only.
    webhook_content_types: ClassVar[frozenset[str] | None] = frozenset(
        {"application/json"})
    Config: ClassVar[type[SendGridSettings]] = SendGridSettings

    def __init__(self, config: SendGridSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.config: SendGridSettings = config
        self._session: aiohttp.ClientSession | None = None
        self._own_session = False
        self._url = f"{config.base_url}/v3/mail/send"
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=config.connect_timeout_seconds,
            sock_connect=config.connect_timeout_seconds, sock_read=config.read_timeout_seconds)
        self._headers = {
            "Authorization": f"Bearer {config.api_key.get_secret_value()}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if config.on_behalf_of:
            self._headers["On-Behalf-Of"] = config.on_behalf_of
        self._verifier = (
            EventWebhookVerifier(config.webhook_public_key, config.webhook_tolerance_seconds)
            if config.webhook_public_key else None)

    async def start(self) -> None:
        """Use the hub's session, or open one when the hub gave none."""
        if self.context.http is not None:
            self._session = self.context.http
        else:
            self._session = aiohttp.ClientSession()
            self._own_session = True

    async def close(self) -> None:
        """Close the session if this sink opened it."""
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None
        self._own_session = False

    async def send(self, message: OutboundMessage) -> SendResult:
        """POST one message to /v3/mail/send; 202 gives the X-Message-Id."""
        if self._session is None:
            raise RuntimeError(f"sink {self.name!r} was not started")
        body = orjson.dumps(build_mail(message, self.config, self.name))
        try:
            async with self._session.post(self._url, data=body, headers=self._headers,
                                          timeout=self._timeout, allow_redirects=False
                                          ) as response:
                answer = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise error_for_exception(self.name, exc) from None
        if response.status in (200, 202):
            return SendResult(provider_message_id=response.headers.get("X-Message-Id"),
                              detail="sandbox" if response.status == 200 else "")
        raise error_for_response(self.name, response.status, response.headers, answer,
                                 self.config.api_key.get_secret_value())

    async def verify_status(self, request: InboundRequest) -> None:
        """Check the Event Webhook's ECDSA signature and timestamp."""
        if self._verifier is None:
            raise SignatureError(f"sink {self.name!r} has no webhook_public_key configured")
        self._verifier.verify(signature=request.headers.get(SIGNATURE_HEADER),
                              timestamp=request.headers.get(TIMESTAMP_HEADER),
                              body=request.body, now=request.received_at.timestamp())

    async def parse_status(self, request: InboundRequest) -> list[StatusUpdate]:
        """One status update per known event in the batch."""
        return parse_events(request.json(), request.received_at)
