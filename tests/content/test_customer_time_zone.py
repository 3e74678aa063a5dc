"""Dates in messages are the customer's local day (found from outside by a merchant: a drop-off
closing at 05:00 UTC read "by December 2" to a customer in Los Angeles, for whom it closed on
the evening of December 1)."""

from __future__ import annotations

import email
from email import policy
from zoneinfo import ZoneInfo

from hub.formatting import format_date
from tests.web.conftest import seed

CLOSES = "2026-12-02T05:00:00Z"  # 1 December, 21:00 in Los Angeles; 2 December in Berlin


def _texts(tmp_path) -> dict[str, str]:
    found = {}
    for path in sorted((tmp_path / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        found[message["To"]] = message.get_body(("plain",)).get_content()
    return found


def test_a_time_is_the_day_it_is_in_the_zone_given() -> None:
    assert format_date(CLOSES, "en-US", "long") == "December 2, 2026"
    assert format_date(CLOSES, "en-US", "long", ZoneInfo("America/Los_Angeles")) \
        == "December 1, 2026"
    assert format_date("2026-12-02", "en-US", "long", ZoneInfo("America/Los_Angeles")) \
        == "December 2, 2026"  # a date without a time is that day everywhere


async def test_the_drop_off_deadline_is_the_customers_local_day(client, hub, tmp_path) -> None:
    for ref, who, zone in (("TZ-1", "la", "America/Los_Angeles"), ("TZ-2", "be", "Europe/Berlin"),
                           ("TZ-3", "none", None)):
        customer = {"id": f"C-{who}", "email": f"{who}@example.com", "name": "Lee",
                    "locale": "en-US", **({"timezone": zone} if zone else {})}
        await seed(client, hub, ref, "return.approved", customer=customer,
                   extra={"dropoff_code": "HR7F3K2Q", "dropoff_expires_at": CLOSES})
    texts = _texts(tmp_path)
    assert "by December 1, 2026" in texts["la@example.com"]
    assert "by December 2, 2026" in texts["be@example.com"]
    # No zone from the platform: the configured default (UTC in these settings).
    assert "by December 2, 2026" in texts["none@example.com"]
