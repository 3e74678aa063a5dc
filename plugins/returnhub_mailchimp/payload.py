"""The ``message`` object of Mandrill's ``messages/send`` for one hub message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import check_email

if TYPE_CHECKING:
    from hub.contract import OutboundMessage
    from returnhub_mailchimp.config import MandrillSettings

#: The metadata key carrying the hub's message id; Mandrill echoes metadata in every event.
MESSAGE_ID_KEY = "returnhub_message_id"
#: Mandrill tags are at most 50 characters and may not start with an underscore.
_MAX_TAG_LENGTH = 50


def tags_for(message: OutboundMessage) -> list[str]:
    """Template and stage names as Mandrill tags, shaped to its rules."""
    tags: list[str] = []
    for value in (message.template, message.metadata.get("stage")):
        tag = (value or "").lstrip("_")[:_MAX_TAG_LENGTH]
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def build_message(message: OutboundMessage, settings: MandrillSettings, provider: str
                  ) -> dict[str, Any]:
    """The ``message`` object; MessageRejected when it cannot be valid."""
    # Mandrill judges the recipient itself and says why in its answer (invalid, rejected).
    fields = check_email(message, provider, from_address=settings.from_address,
                         from_name=settings.from_name, check_recipient=False)
    body: dict[str, Any] = {
        "from_email": fields.sender,
        "to": [{"email": message.to, "type": "to"}],
        "subject": message.subject,
        "metadata": {**{k: str(v) for k, v in message.metadata.items()},
                     MESSAGE_ID_KEY: message.message_id},
        "tags": tags_for(message),
        "preserve_recipients": False,
    }
    if fields.sender_name:
        body["from_name"] = fields.sender_name
    if message.text:
        body["text"] = message.text
    if message.html:
        body["html"] = message.html
    headers = {"Reply-To": message.reply_to} if message.reply_to else {}
    headers.update(message.headers)  # one-click unsubscribe (RFC 8058) on promotional mail
    if headers:
        body["headers"] = headers
    if settings.subaccount:
        body["subaccount"] = settings.subaccount
    return body
