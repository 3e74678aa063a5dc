"""PII encryption (Fernet spec vectors, rotation) and keyed lookups."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from hub.security import PiiCipher, b64_hmac_matches, generate_fernet_key, hex_hmac_matches

SPEC = json.loads((Path(__file__).parent.parent / "fixtures/vectors/fernet_spec.json").read_text())


@pytest.mark.parametrize("case", SPEC["verify"])
def test_fernet_spec_verify_vectors(case):
    now = int(datetime.fromisoformat(case["now"].replace("Z", "+00:00")).timestamp())
    plain = Fernet(case["secret"]).decrypt_at_time(case["token"].encode(), case["ttl_sec"], now)
    assert plain == case["src"].encode()


@pytest.mark.parametrize("case", SPEC["invalid"], ids=lambda c: c["desc"])
def test_fernet_spec_invalid_vectors(case):
    now = int(datetime.fromisoformat(case["now"].replace("Z", "+00:00")).timestamp())
    with pytest.raises(InvalidToken):
        Fernet(case["secret"]).decrypt_at_time(case["token"].encode(), case["ttl_sec"], now)


def test_rotation_old_key_still_decrypts_and_rotate_moves_to_new_key():
    old_key, new_key = generate_fernet_key(), generate_fernet_key()
    token = PiiCipher([old_key], "k").encrypt("jane@example.com")
    rotated_cipher = PiiCipher([new_key, old_key], "k")
    assert rotated_cipher.decrypt(token) == "jane@example.com"
    rotated = rotated_cipher.rotate(token)
    assert PiiCipher([new_key], "k").decrypt(rotated) == "jane@example.com"
    with pytest.raises(ValueError, match="cannot be decrypted"):
        PiiCipher([new_key], "k").decrypt(token)


def test_lookup_hash_is_keyed_and_normalized():
    a = PiiCipher([generate_fernet_key()], "key-a")
    b = PiiCipher([generate_fernet_key()], "key-b")
    assert a.lookup_hash("Jane@Example.com ") == a.lookup_hash("jane@example.com")
    assert a.lookup_hash("jane@example.com") != b.lookup_hash("jane@example.com")
    assert "jane" not in a.lookup_hash("jane@example.com")


def test_bad_key_message_names_the_setting_not_the_key():
    with pytest.raises(ValueError, match="security.pii_keys") as error:
        PiiCipher(["not-a-key"], "k")
    assert "not-a-key" not in str(error.value)


@pytest.mark.parametrize("provided", [None, "", "%%%", "é", "YWJj"])
def test_hmac_helpers_never_raise(provided):
    assert b64_hmac_matches(b"k", b"m", provided) is False
    assert hex_hmac_matches(b"k", b"m", provided) is False
