"""The ``mailchimp_transactional`` sink: the official client's request on the hub's session."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import orjson
from mailchimp_transactional.api_client import ApiClient

from hub.contract import HttpSink, OutcomeUnknown, SendResult, StatusTable
from returnhub_mailchimp import errors
from returnhub_mailchimp.config import MandrillSettings
from returnhub_mailchimp.events import parse_events
from returnhub_mailchimp.payload import build_message
from returnhub_mailchimp.webhook import SIGNATURE_HEADER, form_fields, verify

if TYPE_CHECKING:
    from hub.contract import ConnectorContext, InboundRequest, OutboundMessage, StatusUpdate

#: Per-recipient statuses that mean Mandrill took the message.
ACCEPTED_STATUSES = frozenset({"sent", "queued", "scheduled"})
#: The official client's conventions (mailchimp_transactional/api_client.py), read from it so
#: an upgrade carries over: output-format suffix, content type and user agent.
_SDK = ApiClient()
_HEADERS = {"Content-Type": _SDK.content_type, "User-Agent": _SDK.user_agent,
            "Accept": "application/json"}


class MandrillSink(HttpSink):
    """Email through Mailchimp Transactional.

    Sends the request the official client sends (``POST {base_url}/messages/send.json``, JSON
    body with ``key`` and ``message``) on the hub's shared aiohttp session: the client itself
    blocks and opens a connection per call, which measured 9x slower (docs/sinks.md).
    """

    type: ClassVar[str] = "mailchimp_transactional"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    #: The provider posts its status webhooks with this content type only.
    webhook_content_types: ClassVar[frozenset[str] | None] = frozenset(
        {"application/x-www-form-urlencoded"})
    Config: ClassVar[type[MandrillSettings]] = MandrillSettings
    status_table: ClassVar[StatusTable] = errors.TABLE

    def __init__(self, config: MandrillSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.config: MandrillSettings = config
        self._secret = config.api_key.get_secret_value()
        self._url = f"{config.base_url}/messages/send.{_SDK.default_output_format}"

    @property
    def webhook_url(self) -> str:
        """The URL Mandrill signs: ``webhook_url`` or the hub's public URL for this sink."""
        return self.config.webhook_url or (
            f"{self.context.public_url.rstrip('/')}/webhooks/{self.name}")

    def secrets(self) -> tuple[str, ...]:
        """The API key, masked should an answer echo it."""
        return (self._secret,)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message; the recipient's status in the 200 answer decides the outcome."""
        data = orjson.dumps({"key": self._secret,
                             "message": build_message(message, self.config, self.name)})
        reply = await self.request("POST", self._url, data=data, headers=_HEADERS)
        answer, status = errors.decoded(reply), reply.status
        if status != 200:
            by_status = self.error_for(reply, detail=errors.describe(answer))
            raise errors.by_name(reply, answer, by_status)
        if not isinstance(answer, list) or not answer or not isinstance(answer[0], dict):
            raise OutcomeUnknown("Mandrill's answer has no recipient status", provider=self.name,
                                 status=status)
        result = answer[0]
        outcome = result.get("status")
        if outcome in ACCEPTED_STATUSES:
            reason = result.get("queued_reason")
            return SendResult(provider_message_id=result.get("_id"),
                              detail=f"{outcome} ({reason})" if reason else str(outcome))
        if outcome in ("rejected", "invalid"):
            raise errors.error_for_recipient(self.name, result)
        raise OutcomeUnknown("Mandrill answered an unknown recipient status", provider=self.name,
                             status=status, detail=str(outcome)[:50])

    async def verify_status(self, request: InboundRequest) -> None:
        """Check X-Mandrill-Signature against :attr:`webhook_url` and the form fields."""
        key = self.config.webhook_key.get_secret_value() if self.config.webhook_key else None
        verify(self.webhook_url, form_fields(request.body, request.form),
               request.headers.get(SIGNATURE_HEADER), key)

    async def parse_status(self, request: InboundRequest) -> list[StatusUpdate]:
        """One status update per message event in ``mandrill_events``."""
        fields = form_fields(request.body, request.form)
        return parse_events(fields.get("mandrill_events"), request.received_at, self.name)
