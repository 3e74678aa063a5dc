"""Standard Webhooks signatures against the spec's known-answer vector and hostile headers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from multidict import CIMultiDict

from hub.connectors import ConnectorContext
from hub.contract import InboundRequest, SignatureError
from returnhub_webhooks.signing import decode_secret, matches, signature
from returnhub_webhooks.source import StandardWebhooksSettings, StandardWebhooksSource

VECTORS = json.loads((Path(__file__).parent.parent / "fixtures/vectors/standard_webhooks.json")
                     .read_text())
FIXED = VECTORS["fixed_sign_vector"]


def test_known_answer_vector():
    key = decode_secret(FIXED["secret"])
    made = signature(key, FIXED["webhook-id"], FIXED["webhook-timestamp"], FIXED["body"].encode())
    assert made == FIXED["expected_signature"]


@pytest.mark.parametrize("secret", [FIXED["secret"], FIXED["secret"].removeprefix("whsec_"),
                                    FIXED["secret"].rstrip("=")])
def test_secret_with_or_without_prefix_and_padding(secret):
    key = decode_secret(secret)
    assert matches([key], FIXED["webhook-id"], FIXED["webhook-timestamp"],
                   FIXED["body"].encode(), FIXED["expected_signature"])


def test_one_valid_entry_among_others_is_enough():
    valid = FIXED["expected_signature"]
    header = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= garbage v1,@@@ {valid} v2,abc"
    assert matches([decode_secret(FIXED["secret"])], FIXED["webhook-id"],
                   FIXED["webhook-timestamp"], FIXED["body"].encode(), header)


@pytest.mark.parametrize("header", ["v1", "v1,a,b", " ", "v1,", "invalid_signature",
                                    "v2," + FIXED["expected_signature"][3:],
                                    FIXED["expected_signature"][:-2] + "A="])
def test_bad_headers_do_not_match(header):
    assert not matches([decode_secret(FIXED["secret"])], FIXED["webhook-id"],
                       FIXED["webhook-timestamp"], FIXED["body"].encode(), header)


def make_source(**settings) -> StandardWebhooksSource:
    config = StandardWebhooksSettings(secret=FIXED["secret"], **settings)
    context = ConnectorContext(name="demo", http=None, public_url="http://hub", data_dir=Path("."),
                               log=structlog.get_logger())
    return StandardWebhooksSource(config, context)


def inbound(headers: dict[str, str], body: bytes) -> InboundRequest:
    return InboundRequest(method="POST", url="http://hub/webhooks/demo", path="/webhooks/demo",
                          headers=CIMultiDict(headers), query={}, body=body,
                          received_at=datetime.now(UTC))


def fresh_headers(source: StandardWebhooksSource, body: bytes, **changes: str) -> dict[str, str]:
    headers = source.sign(body, event_id="msg_1")
    headers.update(changes)
    return headers


async def test_verify_accepts_fresh_signature_with_mixed_case_headers():
    source = make_source()
    body = b'{"type": "return.approved"}'
    headers = {k.title(): v for k, v in source.sign(body, event_id="msg_1").items()}
    await source.verify(inbound(headers, body))


@pytest.mark.parametrize("change", [
    {"webhook-timestamp": str(int(time.time()) - 301)},
    {"webhook-timestamp": str(int(time.time()) + 301)},
    {"webhook-timestamp": "hello"}, {"webhook-timestamp": "nan"}, {"webhook-timestamp": "1e400"},
    {"webhook-signature": "v1"}, {"webhook-signature": "v1,a,b"}, {"webhook-signature": " "},
    {"webhook-id": ""},
])
async def test_verify_rejects_with_signature_error_only(change):
    source = make_source()
    body = b'{"type": "return.approved"}'
    with pytest.raises(SignatureError):
        await source.verify(inbound(fresh_headers(source, body, **change), body))


async def test_non_utf8_body_is_rejected_not_crashed():
    source = make_source()
    body = bytes.fromhex("fffe")
    headers = fresh_headers(source, b"other")
    with pytest.raises(SignatureError):
        await source.verify(inbound(headers, body))


async def test_previous_secret_is_accepted_during_rotation():
    old = make_source()
    rotated = make_source()
    rotated_config = StandardWebhooksSettings(
        secret="whsec_" + "B" * 43 + "=", previous_secrets=[FIXED["secret"]])
    rotated = StandardWebhooksSource(rotated_config, old.context)
    body = b"{}"
    await rotated.verify(inbound(old.sign(body, event_id="msg_rot"), body))
