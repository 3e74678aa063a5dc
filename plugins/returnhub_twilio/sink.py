"""The ``twilio_sms`` sink: the Twilio SDK's async path on the hub's shared session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from hub.connectors import Sink
from hub.errors import DeliveryError, MessageRejected, OutcomeUnknown, RecipientRefused
from hub.messages import DeliveryStatus, SendResult
from returnhub_twilio.config import TwilioSmsSettings
from returnhub_twilio.errors import error_for_exception, error_for_rest
from returnhub_twilio.phone import to_e164
from returnhub_twilio.reconcile import find_sent
from returnhub_twilio.segments import count_segments
from returnhub_twilio.status import parse_webhook, status_of, verify_signature, webhook_params
from returnhub_twilio.transport import TimedAsyncHttpClient

if TYPE_CHECKING:
    from hub.connectors import ConnectorContext, InboundRequest
    from hub.messages import OutboundMessage, StatusUpdate

#: Twilio refuses longer bodies (error 21617).
MAX_BODY_CHARS = 1600


class TwilioSmsSink(Sink):
    """SMS through Twilio Programmable Messaging.

    Sends with ``Client.messages.create_async`` over :class:`TimedAsyncHttpClient` (one client
    per sink, made in :meth:`start`); numbers are normalized to E.164 first, and the result
    says how many segments the text costs. Status callbacks and inbound replies arrive at
    ``/webhooks/<name>``; the callback URL carries our message id as ``?mid=``.
    """

    type: ClassVar[str] = "twilio_sms"
    channels: ClassVar[frozenset[str]] = frozenset({"sms"})
    #: The provider posts its status webhooks with this content type only.
    webhook_content_types: ClassVar[frozenset[str] | None] = frozenset(
        {"application/x-www-form-urlencoded"})
    Config: ClassVar[type[TwilioSmsSettings]] = TwilioSmsSettings

    def __init__(self, config: TwilioSmsSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.config: TwilioSmsSettings = config
        self._auth_token = config.auth_token.get_secret_value()
        self._client: Client | None = None
        self._own_session: aiohttp.ClientSession | None = None
        self._sender: dict[str, str] = (
            {"from_": config.from_number} if config.from_number
            else {"messaging_service_sid": config.messaging_service_sid or ""})

    async def start(self) -> None:
        """Build the SDK client on the hub's session (or one of its own)."""
        session = self.context.http
        if session is None:
            session = self._own_session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.config.connect_timeout_seconds,
            sock_connect=self.config.connect_timeout_seconds,
            sock_read=self.config.read_timeout_seconds)
        if self.config.api_key_sid and self.config.api_key_secret:
            username, password = (self.config.api_key_sid,
                                  self.config.api_key_secret.get_secret_value())
        else:
            username, password = self.config.account_sid, self._auth_token
        client = Client(username, password, account_sid=self.config.account_sid,
                        http_client=TimedAsyncHttpClient(session, timeout, self.name),
                        environment={})
        client.api.base_url = self.config.base_url
        self._client = client

    async def close(self) -> None:
        """Drop the client; close the session if this sink opened it."""
        self._client = None
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None

    def status_callback(self, message: OutboundMessage) -> str:
        """Where Twilio posts this message's status: the core's URL, or ours with ``?mid=``."""
        return message.status_callback_url or (
            f"{self.context.public_url.rstrip('/')}/webhooks/{self.name}"
            f"?mid={quote(message.message_id, safe='')}")

    async def send(self, message: OutboundMessage) -> SendResult:
        """Create one message; 201 gives the SM… sid."""
        if self._client is None:
            raise RuntimeError(f"sink {self.name!r} was not started")
        try:
            to = to_e164(message.to, self.config.default_region)
        except ValueError as exc:
            raise RecipientRefused(f"the recipient's number {exc}", provider=self.name) from None
        if not message.text.strip():
            raise MessageRejected("the SMS text is empty", provider=self.name)
        if len(message.text) > MAX_BODY_CHARS:
            raise MessageRejected(f"the SMS text is longer than {MAX_BODY_CHARS} characters",
                                  provider=self.name)
        segments = count_segments(message.text)
        params: dict[str, Any] = {"to": to, "body": message.text,
                                  "status_callback": self.status_callback(message),
                                  **self._sender}
        try:
            created = await self._client.messages.create_async(**params)
        except DeliveryError:
            raise
        except TwilioRestException as exc:
            raise error_for_rest(self.name, exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise error_for_exception(self.name, exc) from None
        except (TwilioException, ValueError, KeyError) as exc:
            # A 2xx the SDK cannot read: the message most likely exists.
            raise OutcomeUnknown("Twilio's answer could not be read", provider=self.name,
                                 detail=type(exc).__name__) from None
        return SendResult(provider_message_id=created.sid, detail=str(segments))

    async def reconcile(self, message: OutboundMessage, provider_message_id: str | None
                        ) -> DeliveryStatus | None:
        """Find a message whose send had an unknown outcome: by its sid when known, else in
        the message list, to the same number with the same text, since the send intent
        (:func:`returnhub_twilio.reconcile.find_sent`). None while Twilio cannot answer."""
        if self._client is None:
            return None
        try:
            if provider_message_id:
                found = await self._client.messages(provider_message_id).fetch_async()
                return status_of(found.status)
            return await find_sent(self._client,
                                   to=to_e164(message.to, self.config.default_region),
                                   sender=self.config.from_number, body=message.text,
                                   since=message.sent_after)
        except ValueError:
            return None
        except TwilioRestException as exc:
            return DeliveryStatus.NOT_FOUND if exc.status == 404 and provider_message_id \
                else None
        except (aiohttp.ClientError, TimeoutError, TwilioException, DeliveryError):
            return None

    async def verify_status(self, request: InboundRequest) -> None:
        """Check X-Twilio-Signature over the URL Twilio posted to and every parameter."""
        verify_signature(self._auth_token, request.url,
                         webhook_params(request.body, request.form, request.query),
                         request.headers)

    async def parse_status(self, request: InboundRequest) -> list[StatusUpdate]:
        """A status callback, or a STOP reply (UNSUBSCRIBED with the sender as recipient)."""
        params = webhook_params(request.body, request.form, request.query)
        if isinstance(params, str):
            return []  # a JSON-bodied webhook: no messaging event the hub records
        return parse_webhook(params, request.query, request.headers, request.received_at)
