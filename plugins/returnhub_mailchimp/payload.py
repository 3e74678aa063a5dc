"""The ``message`` object of Mandrill's ``messages/send`` for one hub message."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import MessageRejected

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
    from_address = message.from_address or settings.from_address
    from_name = message.from_name if message.from_address else settings.from_name
    if not from_address:
        raise MessageRejected("no sender address: set from_address on the sink", provider=provider)
    if not message.subject:
        raise MessageRejected("the message has no subject", provider=provider)
    if not message.text and not message.html:
        raise MessageRejected("the message has neither text nor html content", provider=provider)
    for field, value in (("subject", message.subject), ("sender name", from_name),
                         ("recipient", message.to), ("reply_to", message.reply_to)):
        # Mandrill writes these into headers itself; the email package's checks never run.
        if value and ("\r" in value or "\n" in value):
            raise MessageRejected(f"the {field} contains a line break", provider=provider)
    body: dict[str, Any] = {
        "from_email": from_address,
        "to": [{"email": message.to, "type": "to"}],
        "subject": message.subject,
        "metadata": {**{k: str(v) for k, v in message.metadata.items()},
                     MESSAGE_ID_KEY: message.message_id},
        "tags": tags_for(message),
        "preserve_recipients": False,
    }
    if from_name:
        body["from_name"] = from_name
    if message.text:
        body["text"] = message.text
    if message.html:
        body["html"] = message.html
    if message.reply_to:
        body["headers"] = {"Reply-To": message.reply_to}
    if settings.subaccount:
        body["subaccount"] = settings.subaccount
    return body
