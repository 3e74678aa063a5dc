"""Open channels: where the planner finds a customer's address for each channel, from the
channel's sink (its ``recipients`` rules or a ``recipient_address`` override)."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.config import NotificationSettings
from hub.connectors import Sink
from hub.domain.planner import Contact, Planner
from hub.recipients import AddressBook, Recipient, declaration_problems
from hub.security import PiiCipher, generate_fernet_key

JANE = Recipient(email="jane@example.com", phone="+14155550100",
                 attributes={"slack": "#returns", "slack_id": "U024BE7LH"},
                 customer_key="shop:C-1")


class Slack(Sink):
    type = "slack"
    channels = frozenset({"slack"})
    recipients = {"slack": "attribute:slack_id"}


class WhatsApp(Sink):
    type = "whatsapp"
    channels = frozenset({"whatsapp"})
    recipients = {"whatsapp": "phone"}


class Line(Sink):
    """A rule no declaration says: the attribute, or else the phone number."""

    type = "line"
    channels = frozenset({"line"})

    @classmethod
    def recipient_address(cls, channel: str, recipient: Recipient) -> str | None:
        return recipient.attributes.get("line_id") or recipient.phone


def test_the_bundled_channels_keep_their_addresses():
    book = AddressBook()
    assert book.address("email", JANE) == "jane@example.com"
    assert book.address("sms", JANE) == "+14155550100"
    assert book.address("portal", JANE) == "shop:C-1"


def test_a_new_channel_reads_the_attribute_named_after_it_unless_its_sink_says_otherwise():
    assert AddressBook().address("slack", JANE) == "#returns"
    assert AddressBook({"slack": Slack.recipient_address}).address("slack", JANE) == "U024BE7LH"
    assert AddressBook({"whatsapp": WhatsApp.recipient_address}).address(
        "whatsapp", JANE) == "+14155550100"
    assert AddressBook().address("teams", JANE) is None


def test_a_sink_may_override_how_the_address_is_found():
    book = AddressBook({"line": Line.recipient_address})
    assert book.address("line", JANE) == "+14155550100"
    assert book.address("line", Recipient(attributes={"line_id": "Uabc"})) == "Uabc"


def test_the_planner_plans_by_the_channels_rule_and_skips_a_customer_without_an_address():
    settings = NotificationSettings(stages={"approved": {"channels": ["email", "slack"]}})
    cipher = PiiCipher([generate_fernet_key()], "lookup")
    planner = Planner(settings, cipher, AddressBook({"slack": Slack.recipient_address}))
    now = datetime(2026, 12, 3, tzinfo=UTC)

    def plan(contact: Contact) -> dict[str, object]:
        planned = planner.plan(return_id=1, cycle=0, stage="approved", contact=contact,
                               customer_key="shop:C-1", inbox_event_id=None,
                               event_received_at=now, now=now)
        return {p.channel: p.row or p.skipped_reason for p in planned}

    with_id = plan(Contact(email="jane@example.com", attributes={"slack_id": "U024BE7LH"}))
    assert cipher.decrypt(with_id["slack"]["recipient_enc"]) == "U024BE7LH"
    assert with_id["slack"]["idempotency_key"].startswith("1:0:approved:slack:")
    without = plan(Contact(email="jane@example.com", attributes={"slack": "#returns"}))
    assert without["slack"] == "no slack address"
    assert isinstance(without["email"], dict)


def test_a_bad_declaration_is_named():
    class Bad(Sink):
        type = "bad"
        channels = frozenset({"slack"})
        recipients = {"slack": "attribute:", "teams": "email", "sms": "fax"}

    assert declaration_problems("sinks.chat", Bad) == [
        "sinks.chat: Bad.recipients['slack'] an attribute name is 1 to 64 letters, digits, "
        "'_', '-' or '.'",
        "sinks.chat: Bad.recipients names 'teams', which is not one of its channels",
        "sinks.chat: Bad.recipients names 'sms', which is not one of its channels",
        "sinks.chat: Bad.recipients['sms'] must be 'email', 'phone', 'customer_key' or "
        "'attribute:<name>'",
    ]
    assert declaration_problems("sinks.chat", Slack) == []
