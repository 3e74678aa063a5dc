"""The Standard Webhooks signature scheme, without the reference library's traps (it raises
ValueError on malformed headers; here every malformed input is simply "not verified")."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (base64 after the prefix)."""
    encoded = secret.strip().removeprefix(PREFIX)
    encoded += "=" * (-len(encoded) % 4)  # some senders publish unpadded base64
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("a Standard Webhooks secret is 'whsec_' followed by base64") from None


def signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def matches(keys: list[bytes], msg_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether any ``v1`` entry of the space-separated ``header`` was made by any key."""
    provided = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue  # a malformed entry does not hide a valid one after it
        try:
            provided.append(base64.b64decode(value, validate=True))
        except ValueError:
            continue
    if not provided:
        return False
    try:
        signed = f"{msg_id}.{timestamp}.".encode() + body
    except UnicodeEncodeError:
        return False
    expected = [hmac.new(key, signed, hashlib.sha256).digest() for key in keys]
    # Compare every pair so timing does not reveal which entry or key matched.
    found = False
    for candidate in provided:
        for digest in expected:
            found |= hmac.compare_digest(candidate, digest)
    return found
