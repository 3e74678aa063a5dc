"""Signed, expiring links to a customer's return page (``/portal/r/<token>``).

A token names one return (source and reference) and an expiry, and carries an HMAC-SHA256 of
both under the portal key, so it reveals one return and nothing else, cannot be forged or
extended, and needs no login. Tokens are URL-safe.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub import jsonutil


class InvalidPortalToken(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class PortalClaim:
    """What a valid token grants: one return."""

    source: str
    reference: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode unpadded URL-safe base64, accepting only the exact encoding :func:`_b64` makes:
    the decoder ignores stray characters and the unused low bits of the last character, so
    without the check one token would have several spellings."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical encoding")
    return data


def make_token(key: bytes, source: str, reference: str, expires_at: datetime) -> str:
    """A token for one return, valid until ``expires_at``."""
    payload = jsonutil.dumps({"s": source, "r": reference, "e": int(expires_at.timestamp())})
    signature = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_token(key: bytes, token: str, now: datetime) -> PortalClaim:
    """The claim of a valid token; raises :class:`InvalidPortalToken` otherwise."""
    try:
        encoded_payload, encoded_signature = token.split(".")
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
    except (ValueError, UnicodeEncodeError):
        raise InvalidPortalToken("malformed token") from None
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest(), signature):
        raise InvalidPortalToken("bad signature")
    try:
        data = jsonutil.loads(payload)
        claim = PortalClaim(str(data["s"]), str(data["r"]),
                            datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo))
    except (ValueError, KeyError, TypeError):
        raise InvalidPortalToken("malformed token") from None
    if claim.expires_at <= now:
        raise InvalidPortalToken("expired")
    return claim


def portal_url(public_url: str, key: bytes, source: str, reference: str, now: datetime,
               ttl_days: float) -> str:
    """The full link a message carries."""
    token = make_token(key, source, reference, now + timedelta(days=ttl_days))
    return f"{public_url.rstrip('/')}/portal/r/{token}"
