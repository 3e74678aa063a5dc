"""Portal link tokens: one spelling per token (strict base64)."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime, timedelta

import pytest

from hub.portal_links import InvalidPortalToken, make_token, read_token

KEY = b"portal-links-test-key-0123456789"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same_bytes_other_spelling(text: str) -> str:
    """``text`` with its last character changed only in the bits the decoder drops."""
    last = ALPHABET.index(text[-1])
    for flip in (1, 2, 3):  # the low bits unused when the length is not a multiple of 3
        other = text[:-1] + ALPHABET[last ^ flip]
        if _decode(other) == _decode(text):
            return other
    raise AssertionError("no unused bits in the last character")


def test_a_token_reads_back():
    token = make_token(KEY, "shop", "R-1", NOW + timedelta(days=1))
    claim = read_token(KEY, token, NOW)
    assert (claim.source, claim.reference) == ("shop", "R-1")


@pytest.mark.parametrize("part", ["signature", "payload"])
def test_a_non_canonical_spelling_of_the_same_bytes_is_refused(part):
    # The payload's length varies with the reference; pick one that leaves unused bits.
    reference = next(r for r in (f"R-{'x' * n}" for n in range(3))
                     if len(make_token(KEY, "shop", r, NOW + timedelta(days=1))
                            .split(".")[0]) % 4)
    token = make_token(KEY, "shop", reference, NOW + timedelta(days=1))
    payload, signature = token.split(".")
    if part == "signature":  # 32 bytes: the last character carries 2 unused bits
        altered = f"{payload}.{_same_bytes_other_spelling(signature)}"
    else:
        altered = f"{_same_bytes_other_spelling(payload)}.{signature}"
    assert altered != token
    assert [_decode(p) for p in altered.split(".")] == [_decode(p) for p in token.split(".")]
    with pytest.raises(InvalidPortalToken, match="malformed"):
        read_token(KEY, altered, NOW)


@pytest.mark.parametrize("noise", ["=", "==", "\n", "*", " "])
def test_padding_and_stray_characters_are_refused(noise):
    token = make_token(KEY, "shop", "R-1", NOW + timedelta(days=1))
    with pytest.raises(InvalidPortalToken, match="malformed"):
        read_token(KEY, token + noise, NOW)
