"""Events and customer data in and out of encrypted columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub import jsonutil
from hub.events import ReturnEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hub.security import PiiCipher


class EventCodec:
    """Serializes a :class:`ReturnEvent` (raw payload included) to encrypted bytes and back."""

    def __init__(self, cipher: PiiCipher) -> None:
        self.cipher = cipher

    def encode(self, event: ReturnEvent, text: str | None = None) -> bytes:
        """Encrypted JSON of the whole event (``text``: that JSON, when already made)."""
        return self.cipher.encrypt((text or event.model_dump_json()).encode())

    def decode(self, token: bytes) -> ReturnEvent:
        """The event back from :meth:`encode`'s output."""
        return ReturnEvent.model_validate_json(self.cipher.decrypt_bytes(token))

    def encode_json(self, value: Any) -> bytes | None:
        """Encrypted JSON of any value (None stays None)."""
        return None if value is None else self.cipher.encrypt(jsonutil.dumps(value))

    def decode_json(self, token: bytes | None) -> Any:
        """The value back from :meth:`encode_json`."""
        return None if token is None else jsonutil.loads(self.cipher.decrypt_bytes(token))

    def holding(self, plaintexts: Mapping[bytes, bytes]) -> EventCodec:
        """This codec, opening the tokens of ``plaintexts`` without decrypting them (values
        the process encrypted moments ago and handed over with a row)."""
        return EventCodec(RecentPlaintexts(self.cipher, plaintexts))


class RecentPlaintexts:
    """The PII cipher, remembering for one batch the plaintext of each token it made or
    opened: the applier reads back details and contact data it encrypted moments earlier,
    and a remembered token costs no Fernet decryption. Forgotten by :meth:`clear`."""

    def __init__(self, cipher: PiiCipher, held: Mapping[bytes, bytes] | None = None) -> None:
        self._cipher = cipher
        self._plain: dict[bytes, bytes] = dict(held or {})

    def held(self, *tokens: bytes | None) -> dict[bytes, bytes]:
        """The plaintexts remembered of ``tokens`` (those not remembered are left out)."""
        return {token: self._plain[token] for token in tokens if token in self._plain}

    def clear(self) -> None:
        """Forget every plaintext (no PII is kept between batches)."""
        self._plain.clear()

    def encrypt(self, plaintext: str | bytes | None) -> bytes | None:
        """Like :meth:`PiiCipher.encrypt`."""
        token = self._cipher.encrypt(plaintext)
        if token is not None:
            self._plain[token] = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return token

    def decrypt_bytes(self, token: bytes | None) -> bytes | None:
        """Like :meth:`PiiCipher.decrypt_bytes`."""
        if token is None:
            return None
        plain = self._plain.get(token)
        if plain is None:
            plain = self._plain[token] = self._cipher.decrypt_bytes(token)
        return plain

    def decrypt(self, token: bytes | None) -> str | None:
        """Like :meth:`PiiCipher.decrypt`."""
        data = self.decrypt_bytes(token)
        return None if data is None else data.decode()

    def lookup_hash(self, value: str | None) -> str | None:
        """Like :meth:`PiiCipher.lookup_hash`."""
        return self._cipher.lookup_hash(value)
