"""The RFC 5322 message for one hub message: multipart/alternative text + html."""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from hub.contract import MessageRejected, RecipientRefused, check_email, is_email

if TYPE_CHECKING:
    from hub.contract import OutboundMessage
    from returnhub_smtp.config import SmtpSettings

#: Header carrying the hub's message id, for relays' logs and bounce processing.
MESSAGE_ID_HEADER = "X-Returnhub-Message-Id"
_ID_LEFT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def message_id_for(message_id: str, domain: str) -> str:
    """A Message-ID (without angle brackets) whose left part is our id, hashed when it is not
    a valid dot-atom."""
    left = message_id if _ID_LEFT.fullmatch(message_id) else hashlib.sha256(
        message_id.encode()).hexdigest()[:32]
    return f"{left}@{domain}"


def _address(provider: str, role: str, addr_spec: str, name: str | None = None) -> Address:
    try:
        return Address(display_name=name or "", addr_spec=addr_spec)
    except (ValueError, IndexError):
        error = RecipientRefused if role == "recipient" else MessageRejected
        raise error(f"the {role} is not a valid address", provider=provider) from None


def build_email(message: OutboundMessage, settings: SmtpSettings, provider: str
                ) -> tuple[EmailMessage, str, str]:
    """The message, its envelope sender and its Message-ID (without angle brackets).

    Header values go through the email package's checks (a CR/LF is refused), so a
    customer-derived name or subject cannot add headers.
    """
    if not is_email(message.to):  # a relay refuses it at RCPT, line break or not: the recipient
        raise RecipientRefused("the recipient is not a valid address", provider=provider)
    fields = check_email(message, provider, from_address=settings.from_address,
                         from_name=settings.from_name)
    sender = fields.sender
    domain = settings.message_id_domain or sender.rpartition("@")[2] or "localhost"
    message_id = message_id_for(message.message_id, domain)
    # A List-Unsubscribe URL is one long word: folded at 78 it would be RFC 2047-encoded and
    # unreadable to mail clients, so messages with extra headers fold at RFC 5322's 998.
    email = EmailMessage(policy=policy.SMTP.clone(max_line_length=998) if message.headers
                         else policy.SMTP)
    try:
        email["From"] = _address(provider, "sender", sender, fields.sender_name)
        email["To"] = _address(provider, "recipient", message.to)
        if message.reply_to:
            email["Reply-To"] = _address(provider, "reply_to", message.reply_to)
        email["Subject"] = message.subject
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{message_id}>"
        email[MESSAGE_ID_HEADER] = message.message_id
        for name, value in message.headers.items():  # RFC 8058 on promotional mail
            email[name] = value
    except ValueError:
        raise MessageRejected("a header value contains a line break", provider=provider) from None
    if message.text:
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
    else:
        email.set_content(message.html or "", subtype="html")
    return email, sender, message_id
