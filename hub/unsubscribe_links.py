"""Signed one-click unsubscribe links (``/u/<token>``, RFC 8058).

A token names one customer and one channel and carries an HMAC-SHA256 of both under a key
derived from the portal key (so a portal token is never an unsubscribe token and the other way
round). It carries no address, does not expire (an unsubscribe link in an old message must keep
working) and only ever withdraws consent, so a leaked token can do no more than that.
"""

from __future__ import annotations

import hashlib
import hmac

from hub import jsonutil
from hub.portal_links import _b64, _unb64

_DOMAIN = b"returnhub-unsubscribe-v1"


class InvalidUnsubscribeToken(Exception):
    """The token is malformed or forged."""


def _key(portal_key: bytes) -> bytes:
    return hmac.new(portal_key, _DOMAIN, hashlib.sha256).digest()


def make_token(portal_key: bytes, customer_id: int, channel: str) -> str:
    """The token for one customer's marketing consent on one channel."""
    payload = jsonutil.dumps({"c": customer_id, "ch": channel})
    signature = hmac.new(_key(portal_key), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_token(portal_key: bytes, token: str) -> tuple[int, str]:
    """(customer id, channel) of a valid token; :class:`InvalidUnsubscribeToken` otherwise."""
    try:
        encoded_payload, encoded_signature = token.split(".")
        payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
    except (ValueError, UnicodeEncodeError):
        raise InvalidUnsubscribeToken("malformed token") from None
    expected = hmac.new(_key(portal_key), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise InvalidUnsubscribeToken("bad signature")
    try:
        data = jsonutil.loads(payload)
        return int(data["c"]), str(data["ch"])
    except (ValueError, KeyError, TypeError):
        raise InvalidUnsubscribeToken("malformed token") from None


def unsubscribe_url(public_url: str, portal_key: bytes, customer_id: int, channel: str) -> str:
    """The full https link for the List-Unsubscribe header."""
    return f"{public_url.rstrip('/')}/u/{make_token(portal_key, customer_id, channel)}"
