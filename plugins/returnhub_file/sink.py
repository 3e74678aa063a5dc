"""``file`` sink: one file per message, named by the hub's message id.

Writing is atomic (temporary file, then rename) and idempotent: a message whose file already
exists is not written again, so a worker that crashed after writing and before recording does
not produce a second copy when the message is retried.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import Any

from pydantic import Field

from hub import OutboundMessage, ProviderUnavailable, RecipientRefused, SendResult, Sink
from hub.connectors import ConnectorSettings
from hub.jsonutil import dumps


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
        """Write the message unless its file already exists."""
        if not message.to:
            raise RecipientRefused("no recipient address", provider=self.name)
        path = self.path_for(message)
        if path.exists():
            return SendResult(provider_message_id=message.message_id, detail="already written")
        content = (self._email(message) if message.channel == "email"
                   else dumps(self._sms(message)))
        try:
            await asyncio.to_thread(self._write_atomically, path, content)
        except OSError as exc:
            raise ProviderUnavailable(f"cannot write the outbox file ({exc.strerror})",
                                      provider=self.name) from None
        return SendResult(provider_message_id=message.message_id, status="delivered")

    def _email(self, message: OutboundMessage) -> bytes:
        email = EmailMessage()
        email["From"] = formataddr((message.from_name or "", message.from_address or ""))
        email["To"] = message.to
        if message.reply_to:
            email["Reply-To"] = message.reply_to
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["Message-ID"] = make_msgid(idstring=message.message_id, domain="returnhub.local")
        email["X-Returnhub-Message-Id"] = message.message_id
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return bytes(email)

    @staticmethod
    def _sms(message: OutboundMessage) -> dict[str, Any]:
        return {"message_id": message.message_id, "to": message.to, "body": message.text,
                "metadata": message.metadata}

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
