"""The ``file`` sink's hand-built .eml: it parses back (email.policy.default) to exactly the
message's headers and bodies, refuses header injection, and keeps the sink's write semantics."""

from __future__ import annotations

import email
import re
from email import policy
from email.errors import NonASCIILocalPartDefect, NonPrintableDefect
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import MessageRejected, ProviderUnavailable
from hub.messages import OutboundMessage
from returnhub_file import sink as file_sink
from returnhub_file.sink import FileSink, FileSinkSettings, email_bytes

from .support import load_fixture, make_context

LONG_SUBJECT = ("Your return RMA-1001 for the order #88123 was approved and your refund of "
                "$129.00 is on its way to the card ending 4242")


def message(**overrides) -> OutboundMessage:
    """A return-approved email with text and html."""
    fields = {"message_id": "ntf_01HZY3", "channel": "email", "to": "jane@example.com",
              "subject": "Your return RMA-1001 was approved", "text": "Hello Jane\n",
              "html": "<p>Hello Jane</p>", "from_address": "shop@example.com",
              "from_name": "Example Shop", "reply_to": "help@example.com"}
    return OutboundMessage(**{**fields, **overrides})


def parse(data: bytes) -> EmailMessage:
    """The .eml as a mail reader sees it.

    UTF-8 headers (RFC 6532, a non-ASCII address) are read from text: the email package's
    bytes parser leaves them as surrogate escapes.
    """
    if data.partition(b"\n\n")[0].isascii():
        return email.message_from_bytes(data, policy=policy.default)
    return email.message_from_string(data.decode(), policy=policy.default)


def read_name(name: str | None) -> str:
    """The display name a reader gets back: the name itself, except that a name which has to
    be RFC 2047-encoded (not printable ASCII) reads back with each run of whitespace that starts
    with a blank as one space, as the email package reads any phrase."""
    if not name:
        return ""
    if "=?" in name or not re.fullmatch(r"[ -~]*", name):
        return re.sub(r"[ \t]\s*", " ", name)
    return name


def assert_reads_back(sent: OutboundMessage, data: bytes) -> None:
    """Every header and body of ``data`` decodes to exactly the message's values."""
    parsed = parse(data)
    assert parsed.defects == []
    sender = parsed["From"].addresses
    assert [(a.display_name, a.addr_spec) for a in sender] == [
        (read_name(sent.from_name), sent.from_address)]
    assert [a.addr_spec for a in parsed["To"].addresses] == [sent.to]
    assert ([a.addr_spec for a in parsed["Reply-To"].addresses] if sent.reply_to
            else parsed["Reply-To"]) == ([sent.reply_to] if sent.reply_to else None)
    assert str(parsed["Subject"]) == (sent.subject or "")
    assert parsed["X-Returnhub-Message-Id"] == sent.message_id
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Date"].datetime is not None
    assert sent.message_id in parsed["Message-ID"]
    # Notes, not damage: a control character is kept but flagged, and so is an RFC 6532 address.
    notes = (NonPrintableDefect, NonASCIILocalPartDefect)
    for name in parsed.keys():
        assert all(isinstance(d, notes) for d in parsed[name].defects), name
    bodies = [(part.get_content_type(), part.get_content_charset(), part.get_content())
              for part in parsed.walk() if not part.is_multipart()]
    expected = [("text/plain", "utf-8", sent.text)]
    if sent.html:
        assert parsed.get_content_type() == "multipart/alternative"
        expected.append(("text/html", "utf-8", sent.html))
    assert bodies == expected


CASES = {
    "ascii": message(),
    "text only": message(html=None),
    "no reply_to, no sender name": message(reply_to=None, from_name=None),
    "empty text with html": message(text=""),
    "non-ascii subject": message(subject="Ihre Rücksendung RMA-1001 wurde genehmigt"),
    "non-ascii sender name": message(from_name="Bücherstube Zoë"),
    "non-ascii bodies": message(text="Grüße, Zoë — こんにちは\n", html="<p>Grüße, Zoë</p>"),
    "emoji everywhere": message(subject="Approved ✅📦", from_name="Shop 🛍️",
                                text="Thanks 🎉", html="<p>🎉</p>"),
    "long ascii subject": message(subject=LONG_SUBJECT),
    "long non-ascii subject": message(subject="Rücksendung " + LONG_SUBJECT + " ✅"),
    "one long word": message(subject="x" * 200),
    "name with specials": message(from_name='Doe, Jane "JD" (shop) \\ <x>'),
    "name with runs of spaces": message(from_name="  Jane   Doe "),
    "subject with spaces and tab": message(subject="  two  spaces\tand a tab "),
    "subject like an encoded word": message(subject="=?utf-8?q?not_decoded?="),
    "name like an encoded word": message(from_name="=?utf-8?q?Jane?="),
    "empty subject": message(subject=""),
    "crlf and cr in bodies": message(text="a\r\nb\rc\n", html="<p>\r\n</p>"),
    "no trailing newline": message(text="no newline at the end"),
    "long body": message(text="line of text " * 2000, html="<p>" + "é" * 5000 + "</p>"),
    "line separators and controls": message(
        subject="a\x1cb\x1dc\x1ed\x85e\u2028f\u2029g\x0bh\x0ci\x00j\x7f",
        from_name="Zoë\x1e\u2028", text="a\x1eb\u2028c\x0c", html="\x85"),
    "non-ascii addresses (RFC 6532)": message(to="zoë@exämple.com", from_address="shöp@exämple.com",
                                              reply_to="hélp@exämple.com"),
}


@pytest.mark.parametrize("sent", CASES.values(), ids=CASES.keys())
def test_the_eml_reads_back_exactly(sent) -> None:
    assert_reads_back(sent, email_bytes(sent, "outbox"))


@pytest.mark.parametrize("sent", CASES.values(), ids=CASES.keys())
def test_the_eml_is_plain_ascii_lines_of_legal_length(sent) -> None:
    data = email_bytes(sent, "outbox")
    head = data.partition(b"\n\n")[0]
    if sent.to.isascii():
        assert head.isascii()
    assert all(len(line) <= 998 for line in data.split(b"\n"))
    subject = re.search(rb"^Subject:.*(?:\n .*)*", head, re.MULTILINE).group()
    assert all(len(line) <= 78 for line in subject.split(b"\n"))


def test_the_boundary_is_fixed_by_the_message_id() -> None:
    first, second = email_bytes(message(), "outbox"), email_bytes(message(), "outbox")
    boundary = parse(first).get_boundary()
    assert boundary == parse(second).get_boundary()
    assert boundary != parse(email_bytes(message(message_id="ntf_other"), "outbox")).get_boundary()


def test_the_older_compat32_reader_sees_the_same_bodies() -> None:
    sent = message(text="Grüße $29.00", html="<p>$29.00</p>")
    parsed = email.message_from_bytes(email_bytes(sent, "outbox"))
    assert parsed["To"] == sent.to and parsed["Subject"] == sent.subject
    bodies = [part.get_payload(decode=True).decode() for part in parsed.walk()
              if not part.is_multipart()]
    assert bodies == [sent.text, sent.html]


header_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                      max_size=160)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=header_text, name=header_text, text=st.text(), html=st.none() | st.text())
def test_any_subject_name_and_body_read_back(subject, name, text, html) -> None:
    sent = message(subject=subject, from_name=name, text=text, html=html)
    assert_reads_back(sent, email_bytes(sent, "outbox"))


INJECTIONS = ["Return approved\r\nBcc: attacker@evil.test", "Jane\nBcc: x@evil.test",
              "trailing\r", *(case["value"] for case in
                              load_fixture("header_injection.json")["cases"][:3])]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("field", ["subject", "from_name", "from_address", "to", "reply_to"])
def test_a_line_break_in_a_header_value_is_refused(field, value) -> None:
    with pytest.raises(MessageRejected) as caught:
        email_bytes(message(**{field: value}), "outbox")
    assert "line break" in str(caught.value) and "evil" not in str(caught.value)


# -- the sink ---------------------------------------------------------------------------------


@pytest.fixture
async def sink(tmp_path) -> FileSink:
    """A started file sink writing to a temporary folder."""
    instance = FileSink(FileSinkSettings(directory=tmp_path / "outbox"), make_context("outbox"))
    await instance.start()
    return instance


async def test_send_writes_the_eml_once(sink) -> None:
    first = await sink.send(message())
    second = await sink.send(message(subject="changed"))
    assert (first.status, first.detail) == ("delivered", "")
    assert second.detail == "already written"
    path = sink.path_for(message())
    assert str(parse(path.read_bytes())["Subject"]) == message().subject
    assert [p.name for p in sink.directory.iterdir()] == [path.name]


async def test_send_makes_one_thread_hop(sink, monkeypatch) -> None:
    hops = []

    async def counting(function, *args):
        hops.append(function)
        return function(*args)

    monkeypatch.setattr(file_sink.asyncio, "to_thread", counting)
    await sink.send(message())
    await sink.send(message())  # already written: still one hop, no stat on the loop
    assert len(hops) == 2


async def test_an_injected_header_writes_nothing(sink) -> None:
    with pytest.raises(MessageRejected):
        await sink.send(message(subject=INJECTIONS[0]))
    assert list(sink.directory.iterdir()) == []


async def test_a_write_failure_is_provider_unavailable(tmp_path) -> None:
    missing = FileSink(FileSinkSettings(directory=tmp_path / "never-created"),
                       make_context("outbox"))
    with pytest.raises(ProviderUnavailable):
        await missing.send(message())


async def test_fsync_and_sms_still_write(tmp_path) -> None:
    instance = FileSink(FileSinkSettings(directory=tmp_path, fsync=True), make_context("outbox"))
    await instance.start()
    await instance.send(message())
    sms = message(channel="sms", to="+14155550100", text="Return approved")
    await instance.send(sms)
    assert instance.path_for(sms).read_bytes().startswith(b"{")
    assert not list(tmp_path.glob(".tmp-*"))


def test_extra_headers_are_written_as_given_and_bad_ones_refused(tmp_path) -> None:
    """List-Unsubscribe stays one readable word; a header with a line break is refused."""
    import email as email_package
    from email import policy as email_policy

    from hub.errors import MessageRejected
    from hub.messages import OutboundMessage
    from returnhub_file.sink import email_bytes

    link = "https://hub.example.com/u/" + "eyJjIjoxMjM0NSwiY2giOiJlbWFpbCJ9" * 3 + ".c2ln"
    base = {"message_id": "m-1", "channel": "email", "to": "a@example.com", "subject": "Hi",
            "text": "x", "from_address": "shop@example.com"}
    raw = email_bytes(OutboundMessage(**base, headers={
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}), "outbox")
    parsed = email_package.message_from_bytes(raw, policy=email_policy.default)
    assert parsed["List-Unsubscribe"] == f"<{link}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for headers in ({"List-Unsubscribe": "<x>\r\nBcc: b@example.com"}, {"Bad:Name": "x"}):
        with pytest.raises(MessageRejected):
            email_bytes(OutboundMessage(**base, headers=headers), "outbox")
