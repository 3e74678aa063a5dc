"""Events and customer data in and out of encrypted columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import jsonutil
from hub.events import ReturnEvent

if TYPE_CHECKING:
    from hub.security import PiiCipher


class EventCodec:
    """Serializes a :class:`ReturnEvent` (raw payload included) to encrypted bytes and back."""

    def __init__(self, cipher: PiiCipher) -> None:
        self.cipher = cipher

    def encode(self, event: ReturnEvent) -> bytes:
        """Encrypted JSON of the whole event."""
        return self.cipher.encrypt(event.model_dump_json().encode())

    def decode(self, token: bytes) -> ReturnEvent:
        """The event back from :meth:`encode`'s output."""
        return ReturnEvent.model_validate_json(self.cipher.decrypt_bytes(token))

    def encode_json(self, value: Any) -> bytes | None:
        """Encrypted JSON of any value (None stays None)."""
        return None if value is None else self.cipher.encrypt(jsonutil.dumps(value))

    def decode_json(self, token: bytes | None) -> Any:
        """The value back from :meth:`encode_json`."""
        return None if token is None else jsonutil.loads(self.cipher.decrypt_bytes(token))
