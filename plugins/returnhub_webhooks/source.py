"""``standard_webhooks``: a source for platforms (or the merchant's own systems) that post
Returnhub's normalized event JSON, signed with Standard Webhooks.

The body is one event::

    {"type": "return.approved", "return_id": "R-1001", "order_number": "#1001",
     "customer": {"email": "...", "name": "..."}, "refund_amount": {"amount": "25.00",
     "currency": "USD"}, "occurred_at": "2026-11-24T10:00:00Z"}

``webhook-id`` is the dedupe key: a re-delivery with the same id is acknowledged and ignored.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator

from hub.contract import (
    ConnectorSettings,
    EventType,
    InboundRequest,
    RequestRejected,
    ReturnEvent,
    SignatureError,
    Source,
)
from returnhub_webhooks.signing import decode_secret, matches, signature

#: Fields the sender may set; the hub sets source, source_event_id and raw itself.
_RESERVED = ("source", "source_event_id", "raw")


class StandardWebhooksSettings(ConnectorSettings):
    """Settings of a ``standard_webhooks`` source."""

    secret: SecretStr = Field(description="The signing secret, 'whsec_' + base64.")
    previous_secrets: list[SecretStr] = Field(
        default_factory=list, description="Older secrets still accepted during a rotation.")
    tolerance_seconds: int = Field(300, ge=1, description="Largest clock difference accepted "
                                   "for webhook-timestamp, past or future.")

    @field_validator("secret", "previous_secrets")
    @classmethod
    def _decodable(cls, value: Any) -> Any:
        for secret in value if isinstance(value, list) else [value]:
            decode_secret(secret.get_secret_value())
        return value


class StandardWebhooksSource(Source):
    """Verifies Standard Webhooks signatures and validates the normalized event body."""

    type = "standard_webhooks"
    Config = StandardWebhooksSettings

    def __init__(self, config: StandardWebhooksSettings, context: Any) -> None:
        super().__init__(config, context)
        secrets = [config.secret, *config.previous_secrets]
        self._keys = [decode_secret(s.get_secret_value()) for s in secrets]

    async def verify(self, request: InboundRequest) -> None:
        """Check webhook-id, webhook-timestamp and webhook-signature."""
        msg_id = request.headers.get("webhook-id", "").strip()
        timestamp = request.headers.get("webhook-timestamp", "").strip()
        header = request.headers.get("webhook-signature", "")
        for name, value in (("webhook-id", msg_id), ("webhook-timestamp", timestamp),
                            ("webhook-signature", header)):
            if not value:
                raise SignatureError(f"missing {name} header")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise SignatureError("webhook-timestamp is not a unix time")
        if abs(time.time() - int(timestamp)) > self.config.tolerance_seconds:
            raise SignatureError("webhook-timestamp is outside the tolerance")
        if not matches(self._keys, msg_id, timestamp, request.body, header):
            raise SignatureError("no webhook-signature matches")

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """One normalized event per delivery."""
        payload = request.json()
        if not isinstance(payload, dict):
            raise RequestRejected("the body must be a JSON object", status=400)
        for key in _RESERVED:
            if key in payload:
                raise RequestRejected(f"{key} is set by the hub", field=key)
        try:
            event = ReturnEvent.model_validate({
                **payload, "source": self.name,
                "source_event_id": request.headers["webhook-id"].strip(), "raw": payload})
        except ValidationError as exc:
            error = exc.errors(include_input=False, include_url=False)[0]
            loc = error["loc"]
            if error["type"] == "extra_forbidden":
                # The unknown key is the sender's own text, possibly customer data (a name, an
                # address): say where it was, never repeat it (answers and logs show `field`).
                loc = (*loc[:-1], "<unknown field>")
            field = ".".join(str(part) for part in loc)
            message = "field required" if error["type"] == "missing" else error["msg"]
            if field == "type":
                message = f"unknown event type; one of: {', '.join(t.value for t in EventType)}"
            raise RequestRejected(f"{field}: {message}", field=field) from None
        if not event.return_id and not (event.tracking and event.tracking.number):
            raise RequestRejected("return_id: field required (or tracking.number for a "
                                  "carrier scan)", field="return_id")
        return [event]

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """Headers that make ``body`` verify (with the current secret)."""
        timestamp = str(int(time.time()))
        return {"webhook-id": event_id, "webhook-timestamp": timestamp,
                "webhook-signature": signature(self._keys[0], event_id, timestamp, body),
                "content-type": "application/json"}
