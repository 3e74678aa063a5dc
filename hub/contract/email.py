"""The checks every email sink makes before it builds a provider's request.

An email needs a sender (the message's, else the sink's ``from_address``), a subject and a
text or HTML body; the recipient, sender and reply-to must be addresses by
:func:`hub.contact.is_email`; and no header-bound value may hold a line break. JSON APIs
write these values into headers themselves, so the email package's own refusal of CR/LF never
runs for them: a customer-derived name or subject could otherwise add headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.contact import is_email
from hub.errors import MessageRejected, RecipientRefused

if TYPE_CHECKING:
    from hub.messages import OutboundMessage


@dataclass(frozen=True, slots=True)
class EmailFields:
    """The checked header values of one email."""

    sender: str
    sender_name: str | None
    to: str
    reply_to: str | None
    subject: str


def refuse_line_breaks(provider: str, **fields: str | None) -> None:
    """MessageRejected naming the first field whose value holds a CR or LF (never the value)."""
    for field, value in fields.items():
        if value and ("\r" in value or "\n" in value):
            raise MessageRejected(f"the {field.replace('_', ' ')} contains a line break",
                                  provider=provider)


def check_email(message: OutboundMessage, provider: str, *, from_address: str | None = None,
                from_name: str | None = None, check_recipient: bool = True) -> EmailFields:
    """The message's header values, checked; raise what a provider would answer.

    The sender is the message's own (with its name) or else ``from_address`` and
    ``from_name`` (the sink's settings). ``check_recipient=False`` leaves the recipient's
    address to a provider that judges it and says why in its answer.

    :raises MessageRejected: no sender, subject or body; a line break; a sender or reply-to
        that is not an address.
    :raises RecipientRefused: the recipient is not an address.
    """
    sender = message.from_address or from_address
    sender_name = message.from_name if message.from_address else from_name
    if not sender:
        raise MessageRejected("no sender address: set from_address on the sink", provider=provider)
    if not message.subject:
        raise MessageRejected("the message has no subject", provider=provider)
    if not message.text and not message.html:
        raise MessageRejected("the message has neither text nor html content", provider=provider)
    refuse_line_breaks(provider, subject=message.subject, sender_name=sender_name,
                       recipient=message.to, sender=sender, reply_to=message.reply_to)
    if check_recipient and not is_email(message.to):
        raise RecipientRefused("the recipient is not a valid address", provider=provider)
    if not is_email(sender) or (message.reply_to and not is_email(message.reply_to)):
        raise MessageRejected("the sender or reply_to is not a valid address", provider=provider)
    return EmailFields(sender=sender, sender_name=sender_name, to=message.to,
                       reply_to=message.reply_to or None, subject=message.subject)
