"""Cryptographic helpers: webhook signature checks, PII encryption at rest, keyed lookups."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """Raw HMAC of ``message``."""
    return hmac.new(key, message, algorithm).digest()


def b64_hmac_matches(key: bytes, message: bytes, provided: str | None,
                     algorithm: str = "sha256") -> bool:
    """Whether ``provided`` is the base64 HMAC of ``message``, compared in constant time.

    Any malformed value (None, non-ASCII, bad base64) is simply False, never an exception.
    """
    if not provided:
        return False
    try:
        provided_bytes = base64.b64decode(provided.strip(), validate=True)
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(hmac_digest(key, message, algorithm), provided_bytes)


def hex_hmac_matches(key: bytes, message: bytes, provided: str | None,
                     algorithm: str = "sha256") -> bool:
    """Whether ``provided`` is the hex HMAC of ``message`` (constant time; malformed is False)."""
    if not provided:
        return False
    try:
        provided_bytes = bytes.fromhex(provided.strip())
    except ValueError:
        return False
    return hmac.compare_digest(hmac_digest(key, message, algorithm), provided_bytes)


class PiiCipher:
    """Encrypts customer data at rest with Fernet; several keys allow rotation.

    The first key encrypts; every key decrypts. :meth:`rotate` re-encrypts a token under the
    first key. ``lookup_key`` keys :meth:`lookup_hash`, the only form in which an email or phone
    is searchable.
    """

    def __init__(self, keys: list[str], lookup_key: str) -> None:
        if not keys:
            raise ValueError("at least one PII key is required")
        try:
            fernets = [Fernet(k.encode() if isinstance(k, str) else k) for k in keys]
        except ValueError:
            raise ValueError("security.pii_keys: each key must be 32 url-safe base64-encoded "
                             "bytes (generate one with `returnhub keys generate`)") from None
        self._fernet = MultiFernet(fernets)
        self._newest = fernets[0]
        self._lookup_key = lookup_key.encode()

    def encrypt(self, plaintext: str | bytes | None) -> bytes | None:
        """Encrypt text or bytes; None stays None."""
        if plaintext is None:
            return None
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes | None) -> bytes | None:
        """Decrypt to bytes; raises ValueError for a token no configured key opens."""
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ValueError(
                "stored data cannot be decrypted with the configured PII keys") from None

    def decrypt(self, token: bytes | None) -> str | None:
        """Decrypt to text."""
        data = self.decrypt_bytes(token)
        return None if data is None else data.decode()

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` under the current (first) key; ValueError when no configured
        key opens it."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise ValueError(
                "stored data cannot be decrypted with the configured PII keys") from None

    def is_current(self, token: bytes) -> bool:
        """Whether ``token`` was encrypted under the current (first) key."""
        try:
            self._newest.decrypt(token)
        except InvalidToken:
            return False
        return True

    def lookup_hash(self, value: str | None) -> str | None:
        """Keyed hash of a normalized email or phone, for equality lookups without plaintext."""
        if not value:
            return None
        normalized = value.strip().lower()
        return hmac.new(self._lookup_key, normalized.encode(), hashlib.sha256).hexdigest()


def generate_fernet_key() -> str:
    """A new random Fernet key."""
    return Fernet.generate_key().decode()


def ensure_secret_file(path: Path, make: callable = lambda: secrets.token_urlsafe(32)) -> str:
    """Read a secret file, creating it (mode 0600) with ``make()`` when missing.

    Several processes may start at once (``serve`` on every core): the file appears whole or
    not at all (written beside it, then linked into place), the first one linked wins, and
    an empty file is refused rather than used as a key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(make() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: use its
                os.link(scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"{path} is empty: delete it to have a new secret made, or fill it")
    return value
