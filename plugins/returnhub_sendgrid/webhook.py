"""Verification of SendGrid's signed Event Webhook.

SendGrid signs ``timestamp + raw body`` with ECDSA P-256/SHA-256 and sends the base64 DER
signature and the timestamp in two headers. The SDK's ``EventWebhook.verify_signature`` takes
the body as text (so it must be decoded and re-encoded), raises ``binascii.Error`` on bad base64
and checks no age; this module verifies the raw bytes, turns every malformed input into
:class:`~hub.errors.SignatureError` and refuses timestamps outside a tolerance.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader

from hub.contract import SignatureError

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


def load_public_key(key_b64: str) -> ec.EllipticCurvePublicKey:
    """Load the base64 SPKI key SendGrid shows, as the SDK does; ValueError if it is not P-256."""
    try:
        key = EventWebhook().convert_public_key_to_ecdsa(key_b64.strip())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("is not a base64 public key as shown in SendGrid's Event Webhook "
                         "settings") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("is not an ECDSA P-256 key")
    return key


class EventWebhookVerifier:
    """Checks one signed batch against the configured key and clock tolerance."""

    def __init__(self, public_key_b64: str, tolerance_seconds: float) -> None:
        self._key = load_public_key(public_key_b64)
        self._tolerance = tolerance_seconds

    def verify(self, *, signature: str | None, timestamp: str | None, body: bytes,
               now: float) -> None:
        """Raise SignatureError unless ``signature`` signs ``timestamp + body`` and
        ``timestamp`` is within the tolerance of ``now`` (unix seconds)."""
        if not signature:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        if not timestamp:
            raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureError(f"{TIMESTAMP_HEADER} is not a unix time")
        if abs(now - int(timestamp)) > self._tolerance:
            raise SignatureError(f"{TIMESTAMP_HEADER} is outside the allowed "
                                 f"{self._tolerance:g} s window (replayed or clock skew)")
        try:
            der = base64.b64decode(signature.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError(f"{SIGNATURE_HEADER} is not base64") from None
        try:
            self._key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise SignatureError("the Event Webhook signature does not match") from None
