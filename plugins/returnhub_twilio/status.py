"""Twilio webhooks: signature checks, status callbacks and STOP replies as status updates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from hub.contract import DeliveryStatus, RequestRejected, SignatureError, StatusUpdate, reason_text

#: Twilio's default opt-out words; a reply that is exactly one of them (any case) opts out.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
#: Opt-in words: Twilio lifts its block; the hub has no "resubscribed" status yet, so these
#: are acknowledged and ignored (see docs/sinks.md).
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
#: MessageStatus → hub status. ``receiving``/``received``/``partially_delivered`` are ignored.
MESSAGE_STATUS: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.ACCEPTED,
    "scheduled": DeliveryStatus.ACCEPTED,
    "queued": DeliveryStatus.ACCEPTED,
    "sending": DeliveryStatus.ACCEPTED,
    "sent": DeliveryStatus.ACCEPTED,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.OPENED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
#: Twilio's help words: it answers them itself; they are no reply to a message.
HELP_WORDS = frozenset({"HELP", "INFO"})
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"


def status_of(twilio_status: str | None) -> DeliveryStatus:
    """A Message resource's status as a delivery status (unknown words: accepted)."""
    return MESSAGE_STATUS.get(twilio_status or "", DeliveryStatus.ACCEPTED)


def webhook_params(body: bytes, form: Mapping[str, str] | None,
                   query: Mapping[str, str]) -> dict[str, str] | str:
    """What the signature covers: the form fields, or the raw text of a JSON body (whose hash
    travels in the URL's ``bodySHA256``)."""
    if form is not None:
        return dict(form)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("the body is not UTF-8") from None
    if "bodySHA256" in query:
        return text
    return dict(parse_qsl(text, keep_blank_values=True))


def verify_signature(auth_token: str, url: str, params: dict[str, str] | str,
                     headers: Mapping[str, str]) -> None:
    """Check X-Twilio-Signature with the SDK's validator (URL with and without default port).

    The validator raises on some malformed input (a bad port in the URL, for one); every such
    case is a SignatureError here.
    """
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    algorithm = get_signature_algorithm(headers.get(SIGNATURE_SETTINGS_HEADER))
    try:
        valid = RequestValidator(auth_token).validate(url, params, signature, algorithm)
    except Exception:  # noqa: BLE001 - any failure to validate is a refusal, never a 500
        valid = False
    if not valid:
        raise SignatureError("the Twilio signature does not match (is server.public_url the "
                             "URL Twilio posts to?)")


def _event_id(fields: Mapping[str, str], headers: Mapping[str, str], suffix: str) -> str:
    token = headers.get(IDEMPOTENCY_HEADER)
    return f"twilio:{token}" if token else f"{fields.get('MessageSid', '')}:{suffix}"


def parse_webhook(fields: Mapping[str, str], query: Mapping[str, str],
                  headers: Mapping[str, str], received_at: datetime) -> list[StatusUpdate]:
    """A status callback becomes one update; an inbound STOP becomes an UNSUBSCRIBED update
    (START, UNSTOP, YES: RESUBSCRIBED)
    naming the sender in ``recipient``; anything else is acknowledged with no update."""
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    if not sid:
        raise RequestRejected("the webhook has no MessageSid", field="MessageSid")
    message_status = fields.get("MessageStatus") or fields.get("SmsStatus")
    if message_status and message_status not in ("received", "receiving"):
        status = MESSAGE_STATUS.get(message_status)
        if status is None:
            return []
        reason = ""
        if status is DeliveryStatus.FAILED:
            code = fields.get("ErrorCode")
            text = fields.get("ErrorMessage", "")
            reason = reason_text(" ".join(p for p in (
                message_status, f"error {code}" if code else "", text) if p))
        return [StatusUpdate(status=status, occurred_at=received_at,
                             message_id=query.get("mid") or None, provider_message_id=sid,
                             event_id=_event_id(fields, headers, message_status), reason=reason,
                             raw=dict(fields))]
    return _inbound(fields, headers, sid, received_at)


def _inbound(fields: Mapping[str, str], headers: Mapping[str, str], sid: str,
             received_at: datetime) -> list[StatusUpdate]:
    word = (fields.get("Body") or "").strip().upper()
    opt_out_type = (fields.get("OptOutType") or "").upper()
    if opt_out_type == "STOP" or word in OPT_OUT_WORDS:
        status = DeliveryStatus.UNSUBSCRIBED
    elif opt_out_type == "START" or word in OPT_IN_WORDS:
        status = DeliveryStatus.RESUBSCRIBED
    elif word in HELP_WORDS:
        return []  # Twilio answers HELP itself: nothing to record
    else:
        status = DeliveryStatus.REPLIED
    sender = fields.get("From")
    if not sender:
        raise RequestRejected("an inbound message has no From", field="From")
    if status is DeliveryStatus.REPLIED:
        # What the customer wrote is theirs: only the fact of the reply is kept.
        return [StatusUpdate(status=status, occurred_at=received_at, provider_message_id=sid,
                             event_id=_event_id(fields, headers, "inbound"), reason="replied",
                             recipient=sender,
                             raw={k: v for k, v in fields.items() if k != "Body"})]
    return [StatusUpdate(status=status, occurred_at=received_at,
                         provider_message_id=sid, event_id=_event_id(fields, headers, "inbound"),
                         reason=f"replied {word or opt_out_type}"[:50], recipient=sender,
                         raw=dict(fields))]
