"""Verification of Mandrill's ``X-Mandrill-Signature``.

The signature is base64 HMAC-SHA1, keyed with the webhook key, of the webhook URL exactly as
registered followed by every POST field's name and value, fields sorted by name. There is no
timestamp, so nothing bounds a replay; the hub's event-id dedupe does.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from hub.contract import SignatureError, b64_hmac_matches

SIGNATURE_HEADER = "X-Mandrill-Signature"
#: Mandrill signs its verification POST (an empty batch) with this literal key, because the
#: real key is only revealed once the URL is verified.
TEST_WEBHOOK_KEY = "test-webhook"
EMPTY_BATCH = "[]"


def form_fields(body: bytes, parsed: Mapping[str, str] | None) -> dict[str, str]:
    """The POST fields: the core's parsed form, or the body decoded as a form."""
    if parsed is not None:
        return dict(parsed)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise SignatureError("the body is not a form") from None


def signed_data(url: str, fields: Mapping[str, str]) -> bytes:
    """What Mandrill signs: URL + name + value for each field in name order."""
    return (url + "".join(name + fields[name] for name in sorted(fields))).encode()


def verify(url: str, fields: Mapping[str, str], signature: str | None,
           webhook_key: str | None) -> None:
    """Raise SignatureError unless ``signature`` is Mandrill's for ``fields`` posted to ``url``.

    An empty batch signed with ``test-webhook`` (Mandrill's URL check) passes too: it carries
    no event, and the real key does not exist before the URL is verified.
    """
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    data = signed_data(url, fields)
    if webhook_key and b64_hmac_matches(webhook_key.encode(), data, signature, "sha1"):
        return
    if dict(fields) == {"mandrill_events": EMPTY_BATCH} and b64_hmac_matches(
            TEST_WEBHOOK_KEY.encode(), data, signature, "sha1"):
        return
    if not webhook_key:
        raise SignatureError("no webhook_key is configured for this sink")
    raise SignatureError("the Mandrill signature does not match (is webhook_url exactly the "
                         "URL registered at Mandrill?)")
