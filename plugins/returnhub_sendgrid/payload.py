"""The v3 mail/send body for one message, as a plain dict.

The body is the one the SDK's ``Mail`` helpers (``sendgrid.helpers.mail``) build, key for key
and in the same order, without their cost: some 40-70 µs per message in helper objects against
a few µs for the dict (docs/performance.md). tests/sinks/test_sendgrid_payload.py keeps the
helpers as the reference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hub.contract import MessageRejected, check_email

if TYPE_CHECKING:
    from hub.contract import OutboundMessage
    from returnhub_sendgrid.config import SendGridSettings

#: Prefix of our custom args: SendGrid flattens them into each event's top level, where a bare
#: ``status`` or ``email`` would collide with its own fields.
ARG_PREFIX = "returnhub_"
#: The custom arg carrying the hub's message id; SendGrid echoes it in every event.
MESSAGE_ID_ARG = f"{ARG_PREFIX}message_id"
#: What the SDK's ``Content`` helper refuses at the start of a body: a SendGrid API key.
_API_KEY = re.compile(r"SG\.[0-9a-zA-Z]+\.[0-9a-zA-Z]+")
#: SendGrid allows at most 10 categories of at most 255 characters.
_MAX_CATEGORIES = 10
_MAX_CATEGORY_LENGTH = 255


def categories_for(message: OutboundMessage) -> list[str]:
    """Template and stage names as SendGrid categories (deduplicated, within its limits)."""
    wanted = [message.template, message.metadata.get("stage")]
    seen: list[str] = []
    for value in wanted:
        if value and value not in seen:
            seen.append(value[:_MAX_CATEGORY_LENGTH])
    return seen[:_MAX_CATEGORIES]


def build_mail(message: OutboundMessage, settings: SendGridSettings, provider: str
               ) -> dict[str, Any]:
    """The JSON body for ``POST /v3/mail/send``; MessageRejected if it cannot be valid.

    The hub's message id travels in ``custom_args`` with the message's metadata (all strings,
    keys prefixed ``returnhub_``), the template and stage as ``categories``; text/plain comes
    before text/html.
    """
    fields = check_email(message, provider, from_address=settings.from_address,
                         from_name=settings.from_name)
    _no_api_key(provider, message.text, message.html)
    sender = ({"name": fields.sender_name, "email": fields.sender} if fields.sender_name
              else {"email": fields.sender})
    mail: dict[str, Any] = {
        "from": sender,
        "subject": message.subject,
        "personalizations": [{"to": [{"email": message.to}]}],
        "content": _content(message),
    }
    categories = categories_for(message)
    if categories:
        # The helpers insert each category and custom arg at the front: the same order keeps
        # the body byte for byte what the SDK built.
        mail["categories"] = categories[::-1]
    args = {f"{ARG_PREFIX}{key}": str(value) for key, value in message.metadata.items()}
    args[MESSAGE_ID_ARG] = message.message_id
    mail["custom_args"] = dict(reversed(args.items()))
    if settings.sandbox_mode:
        mail["mail_settings"] = {"sandbox_mode": {"enable": True}}
    if message.reply_to:
        mail["reply_to"] = {"email": message.reply_to}
    if message.headers:  # one-click unsubscribe (RFC 8058) on promotional mail
        mail["headers"] = dict(message.headers)
    return mail


def _content(message: OutboundMessage) -> list[dict[str, str]]:
    """text/plain before text/html, each only when not empty."""
    parts = []
    if message.text:
        parts.append({"type": "text/plain", "value": message.text})
    if message.html:
        parts.append({"type": "text/html", "value": message.html})
    return parts


def _no_api_key(provider: str, *bodies: str | None) -> None:
    # The SDK's Content helper raised its ApiKeyIncludedException here; a refusal of the
    # message is what that meant.
    for body in bodies:
        if body and _API_KEY.match(body):
            raise MessageRejected("the content starts with what looks like a SendGrid API key",
                                  provider=provider)
