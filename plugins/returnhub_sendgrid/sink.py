"""The ``sendgrid`` sink: v3 Mail Send on the hub's shared aiohttp session."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

import orjson
import sendgrid

from hub.contract import HttpSink, SendResult, SignatureError, StatusTable
from returnhub_sendgrid.batch import PersonalizationBatcher
from returnhub_sendgrid.config import SendGridSettings
from returnhub_sendgrid.errors import TABLE, describe_errors, reset_wait
from returnhub_sendgrid.events import parse_events
from returnhub_sendgrid.payload import build_mail
from returnhub_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, EventWebhookVerifier

if TYPE_CHECKING:
    from hub.contract import ConnectorContext, InboundRequest, OutboundMessage, StatusUpdate

#: What the official client sends (sendgrid/base_interface.py), so SendGrid sees the same client.
USER_AGENT = f"sendgrid/{sendgrid.__version__};python"


class SendGridSink(HttpSink):
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
    status_table: ClassVar[StatusTable] = TABLE

    def __init__(self, config: SendGridSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.config: SendGridSettings = config
        self._url = f"{config.base_url}/v3/mail/send"
        self._headers = {
            "Authorization": f"Bearer {config.api_key.get_secret_value()}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        if config.on_behalf_of:
            self._headers["On-Behalf-Of"] = config.on_behalf_of
        self._batcher = (PersonalizationBatcher(self._post, window=config.batch_window_ms / 1000)
                         if config.batch_window_ms else None)
        self._verifier = (
            EventWebhookVerifier(config.webhook_public_key, config.webhook_tolerance_seconds)
            if config.webhook_public_key else None)

    def secrets(self) -> tuple[str, ...]:
        """The API key, masked should an answer echo it."""
        return (self.config.api_key.get_secret_value(),)

    async def send(self, message: OutboundMessage) -> SendResult:
        """POST one message to /v3/mail/send; 202 gives the X-Message-Id. A promotional
        message waits up to ``batch_window_ms`` to share a call with others of the same
        content (personalizations, :mod:`returnhub_sendgrid.batch`)."""
        mail = build_mail(message, self.config, self.name)
        if message.category == "promotional" and self._batcher is not None:
            return await self._batcher.send(mail)
        return await self._post(mail)

    async def close(self) -> None:
        """Send the promotional batches still collecting, then close as usual."""
        if self._batcher is not None:
            await self._batcher.close()
        await super().close()

    async def _post(self, mail: dict) -> SendResult:
        body = orjson.dumps(mail)
        answer = await self.request("POST", self._url, data=body, headers=self._headers)
        if answer.status in (200, 202):
            return SendResult(provider_message_id=answer.headers.get("X-Message-Id"),
                              detail="sandbox" if answer.status == 200 else "")
        detail, fields = describe_errors(answer.body)
        raise self.error_for(answer, detail=detail, fields=fields,
                             retry_after=reset_wait(answer.headers, time.time()))

    async def verify_status(self, request: InboundRequest) -> None:
        """Check the Event Webhook's ECDSA signature and timestamp."""
        if self._verifier is None:
            raise SignatureError(f"sink {self.name!r} has no webhook_public_key configured")
        self._verifier.verify(signature=request.headers.get(SIGNATURE_HEADER),
                              timestamp=request.headers.get(TIMESTAMP_HEADER),
                              body=request.body, now=request.received_at.timestamp())

    async def parse_status(self, request: InboundRequest) -> list[StatusUpdate]:
        """One status update per known event in the batch."""
        return parse_events(request.json(), request.received_at, self.name)
