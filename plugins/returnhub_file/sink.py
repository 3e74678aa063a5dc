"""``file`` sink: one file per message, named by the hub's message id.

Writing is atomic (temporary file, then rename) and idempotent: a message whose file already
exists is not written again, so a worker that crashed after writing and before recording does
not produce a second copy when the message is retried.

The ``.eml`` is assembled by hand rather than with ``email.message.EmailMessage``, whose header
parsing and refolding cost milliseconds per message (docs/performance.md); it parses back with
``email.message_from_bytes(..., policy=email.policy.default)`` to exactly the message's fields.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import os
import re
import tempfile
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from pydantic import Field

from hub.contract import (
    ConnectorSettings,
    MessageRejected,
    OutboundMessage,
    ProviderUnavailable,
    RecipientRefused,
    SendResult,
    Sink,
    dumps,
    refuse_line_breaks,
)

#: A header value written as it is: printable ASCII words of at most 76 characters, separated by
#: single spaces. Anything else (leading, trailing or repeated whitespace, control characters,
#: non-ASCII, "=?") would not read back identically and is RFC 2047-encoded instead.
_PLAIN = re.compile(r"(?:[!-~]{1,76}(?: [!-~]{1,76})*)?")
#: A display name written bare: atext words separated by single spaces (RFC 5322 3.2.3).
_ATOMS = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?: [\w!#$%&'*+/=?^`{|}~-]+)*", re.ASCII)
#: A header field name (RFC 5322 3.6.8: printable ASCII except the colon).
_HEADER_NAME = re.compile(r"[!-9;-~]+")
#: A display name that fits a quoted string: printable ASCII.
_PRINTABLE = re.compile(r"[ -~]*")
#: UTF-8 bytes per encoded word: "=?utf-8?b?" + 60 base64 characters + "?=" is 72 characters,
#: within RFC 2047's 75.
_WORD_BYTES = 45
_WORD_OVERHEAD = len("=?utf-8?b??=")
#: Folded header lines stay within this length when the words allow it (RFC 5322 2.1.1).
_LINE_LENGTH = 78
#: base64 body lines: 76 characters (RFC 2045 6.8).
_BASE64_LINE = 76


class FileSinkSettings(ConnectorSettings):
    """Settings of a ``file`` sink."""

    directory: Path = Field(Path("data/outbox"), description="Folder the files are written to.")
    fsync: bool = Field(False, description="fsync each file before answering (survives power "
                        "loss, costs a disk flush per message).")


class FileSink(Sink):
    """Writes ``<message id>.eml`` (email) and ``<message id>.sms.json`` (SMS)."""

    type = "file"
    channels = frozenset({"email", "sms"})
    idempotent = True
    Config = FileSinkSettings

    def __init__(self, config: FileSinkSettings, context: Any) -> None:
        super().__init__(config, context)
        self.directory = Path(config.directory)

    async def start(self) -> None:
        """Create the outbox folder."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, message: OutboundMessage) -> Path:
        """The file a message is written to."""
        suffix = ".eml" if message.channel == "email" else f".{message.channel}.json"
        return self.directory / f"{message.message_id}{suffix}"

    async def send(self, message: OutboundMessage) -> SendResult:
        """Write the message unless its file already exists.

        The existence check, the rendering and the write happen in one worker thread: one
        hand-off per message and no file-system call on the event loop.
        """
        if not message.to:
            raise RecipientRefused("no recipient address", provider=self.name)
        try:
            written = await asyncio.to_thread(self._write_once, message)
        except OSError as exc:
            raise ProviderUnavailable(f"cannot write the outbox file ({exc.strerror})",
                                      provider=self.name) from None
        if not written:
            return SendResult(provider_message_id=message.message_id, detail="already written")
        return SendResult(provider_message_id=message.message_id, status="delivered")

    def _write_once(self, message: OutboundMessage) -> bool:
        """Write the message's file unless it exists; whether it was written."""
        path = self.path_for(message)
        if path.exists():
            return False
        content = self._email(message) if message.channel == "email" else self._sms(message)
        self._write_atomically(path, content)
        return True

    def _email(self, message: OutboundMessage) -> bytes:
        return email_bytes(message, self.name)

    @staticmethod
    def _sms(message: OutboundMessage) -> bytes:
        return dumps({"message_id": message.message_id, "to": message.to,
                      "body": message.text, "metadata": message.metadata})

    def _write_atomically(self, path: Path, content: bytes) -> None:
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                if self.config.fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def email_bytes(message: OutboundMessage, provider: str) -> bytes:
    """The message as an RFC 5322 / MIME ``.eml`` (LF line endings, as the email package
    writes files): text/plain, or multipart/alternative text + html, base64 in UTF-8.

    :raises MessageRejected: a header value contains a CR or LF (header injection).
    """
    refuse_line_breaks(provider, subject=message.subject, sender_name=message.from_name,
                        sender=message.from_address, recipient=message.to,
                        reply_to=message.reply_to, message_id=message.message_id)
    headers = [f"From: {_mailbox(message.from_name, message.from_address or '')}",
               f"To: {message.to}"]
    if message.reply_to:
        headers.append(f"Reply-To: {message.reply_to}")
    headers += [
        _header("Subject", message.subject or ""),
        f"Date: {formatdate(usegmt=True)}",
        f"Message-ID: {make_msgid(idstring=message.message_id, domain='returnhub.local')}",
        _header("X-Returnhub-Message-Id", message.message_id),
        *_extra_headers(message, provider),
        "MIME-Version: 1.0",
    ]
    if not message.html:
        return _join(headers) + _text_part("plain", message.text)
    boundary = _boundary(message.message_id)
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    delimiter = f"--{boundary}\n".encode()
    return b"".join((_join(headers), b"\n", delimiter, _text_part("plain", message.text),
                     delimiter, _text_part("html", message.html), f"--{boundary}--\n".encode()))


def _extra_headers(message: OutboundMessage, provider: str) -> list[str]:
    """``message.headers`` written as given (List-Unsubscribe's URL must stay one readable
    word, never RFC 2047-encoded): names are header tokens, values printable ASCII."""
    lines = []
    for name, value in message.headers.items():
        refuse_line_breaks(provider, header=value)
        if not _HEADER_NAME.fullmatch(name) or not _PRINTABLE.fullmatch(value):
            raise MessageRejected(f"the header {name[:40]!r} is not plain ASCII",
                                  provider=provider)
        lines.append(f"{name}: {value}")
    return lines


def _mailbox(name: str | None, address: str) -> str:
    """``Name <address>``, or the bare address without a name.

    An address is never RFC 2047-encoded (RFC 2047 section 5 forbids it): a non-ASCII one is
    written as UTF-8 (RFC 6532).
    """
    return f"{_display_name(name)} <{address}>" if name else address


def _display_name(name: str) -> str:
    """The name as RFC 5322 atoms, a quoted string, or one RFC 2047 encoded word.

    One encoded word, however long (as ``formataddr`` writes it): the email package reads a name
    split over several words back with spaces added between them.
    """
    if "=?" in name or not _PRINTABLE.fullmatch(name):
        return _encoded_words(name)
    if _ATOMS.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _header(name: str, value: str) -> str:
    """One unstructured header: folded at spaces, or RFC 2047-encoded when not plain ASCII."""
    # "=?" in a plain value would read back as the start of an encoded word.
    if not _PLAIN.fullmatch(value) or "=?" in value:
        first = (_LINE_LENGTH - len(name) - 2 - _WORD_OVERHEAD) // 4 * 3
        return f"{name}: {_encoded_words(value, max(first, 4), _WORD_BYTES)}"
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > _LINE_LENGTH and line != f"{name}:":
            lines.append(line)
            line = ""  # the continuation starts with the space that was there
        line = f"{line} {word}"
    lines.append(line)
    return "\n".join(lines)


def _encoded_words(value: str, first: int | None = None, rest: int | None = None) -> str:
    """``value`` as RFC 2047 base64 encoded words on folded lines: the first of at most
    ``first`` UTF-8 bytes, the others of at most ``rest`` (both at least 4), a single word when
    they are None. A character is never split between words.

    Not ``email.header.Header``: it splits its input with ``str.splitlines`` and so drops
    characters such as U+001E, U+0085 and U+2028.
    """
    data = value.encode()
    words = []
    start, size = 0, first or len(data)
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and 0x80 <= data[end] < 0xC0:  # a character's continuation byte
            end -= 1
        words.append(f"=?utf-8?b?{binascii.b2a_base64(data[start:end], newline=False).decode()}?=")
        start, size = end, rest or len(data)
    return "\n ".join(words)


def _boundary(message_id: str) -> str:
    """The multipart boundary: fixed per message; its "-" never occurs in base64 lines."""
    return "returnhub-" + hashlib.blake2b(message_id.encode(), digest_size=8).hexdigest()


def _join(headers: list[str]) -> bytes:
    return ("\n".join(headers) + "\n").encode()


def _text_part(subtype: str, body: str) -> bytes:
    """A text/<subtype> entity (headers and body), UTF-8 in base64."""
    encoded = binascii.b2a_base64(body.encode(), newline=False)
    lines = b"\n".join(encoded[start:start + _BASE64_LINE]
                       for start in range(0, len(encoded), _BASE64_LINE))
    return (f'Content-Type: text/{subtype}; charset="utf-8"\n'
            "Content-Transfer-Encoding: base64\n\n").encode() + lines + b"\n"
