"""The PII canary: customer data unique to this run goes through the real hub (processes, DEBUG
logging in JSON, fake SendGrid, Mandrill and Twilio), including every place where the hub talks
*about* a customer (a provider refusing the message, bounces, failed SMS, STOP replies, webhooks
refused as malformed, the admin API and the dashboard). Then every line the hub processes wrote
and a dump of the database are searched for the canary in clear: 0 hits.

A positive control proves the canary did flow: the fakes received the email address, the phone
number and the name.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import phonenumbers
import pytest
from yarl import URL

from hub.security import generate_fernet_key
from hub.testing.factories import event_payload
from hub.testing.fake_mandrill import FakeMandrill, mandrill_signature
from hub.testing.fake_sendgrid import FakeSendGrid
from hub.testing.fake_twilio import FakeTwilio, twilio_signature
from tests.conftest import TEST_SECRET, signed_headers, wait_for
from tests.reliability.support import records, returnhub, start_fake, stop_all

#: Where providers "reach" the hub: the URL Twilio and Mandrill sign (requests go to the real
#: listening address; the hub verifies against this one).
PUBLIC_URL = "http://hub.canary.test"
TWILIO_SID = "AC" + "c4" * 16
TWILIO_TOKEN = "canary-twilio-token"
MANDRILL_WEBHOOK_KEY = "canary-mandrill-webhook-key"
#: Notification statuses that will not change without a receipt or an operator.
SETTLED = {"sent", "delivered", "failed", "dead", "bounced", "skipped", "expired", "superseded"}


# -- the canary ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Canary:
    """Customer data no other run (and nothing else in the hub) contains."""

    tag: str
    email: str
    phone: str
    first_name: str
    last_name: str
    street: str

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def customer(self, **extra: Any) -> dict[str, Any]:
        return {"email": self.email, "phone": self.phone, "name": self.name, "locale": "en-US",
                **extra}

    def address(self) -> dict[str, str]:
        return {"name": self.name, "line1": self.street, "city": "Springfield",
                "postal_code": "62704", "country": "US", "phone": self.phone}

    def needles(self) -> dict[str, str]:
        """Every form in which the canary must not appear (searched case-insensitively)."""
        local = self.email.split("@", 1)[0]
        return {
            "email": self.email,
            "email local part": local,
            "email url-encoded": quote(self.email, safe=""),
            "phone": self.phone,
            "phone digits": self.phone.lstrip("+"),
            "name": self.name,
            "first name": self.first_name,
            "last name": self.last_name,
            "street": self.street,
        }


def random_phone(rng: random.Random) -> str:
    """A US number in E.164 that the phonenumbers library calls valid, random digits."""
    for _ in range(10_000):
        number = (f"+1{rng.choice(['212', '312', '415', '503', '617', '702', '808'])}"
                  f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}{rng.randint(0, 9999):04d}")
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number
    raise AssertionError("no valid phone number generated")


def make_canary() -> Canary:
    tag = uuid.uuid4().hex
    rng = random.Random(tag)
    return Canary(tag=tag, email=f"canary-{tag}@example.com", phone=random_phone(rng),
                  first_name=f"Zyx{tag[:12]}", last_name=f"Qwv{tag[12:24]}",
                  street=f"{rng.randint(10, 9999)} Canary{tag[24:]} Street")


# -- searching ----------------------------------------------------------------------------------

def search_text(text: str, needles: dict[str, str]) -> list[tuple[str, str]]:
    """(needle label, excerpt) for every line of ``text`` containing a needle."""
    hits = []
    for line in text.splitlines():
        lowered = line.lower()
        for label, needle in needles.items():
            position = lowered.find(needle.lower())
            if position >= 0:
                hits.append((label, line[max(0, position - 160):position + len(needle) + 160]))
    return hits


def hex_needles(needles: dict[str, str]) -> dict[str, str]:
    """The needles as hex: how a dump shows a binary (BLOB, bytea) column written in clear."""
    return {f"{label} (hex)": needle.encode().hex() for label, needle in needles.items()}


# -- processes ----------------------------------------------------------------------------------

class HubNode:
    """A ``returnhub`` child process whose stdout and stderr are both kept in files."""

    def __init__(self, name: str, config: Path, logs: Path, *args: str) -> None:
        self.name = name
        self.stderr = logs / f"{name}.stderr"
        self.stdout = logs / f"{name}.stdout"
        self.process = returnhub(config, *args, log=self.stderr)
        self.url: str | None = None
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with self.stdout.open("a") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                match = re.search(r"listening on (http://\S+)", line)
                if match and self.url is None:
                    self.url = match.group(1)
                    self._listening.set()
        self._listening.set()

    def wait_listening(self, timeout: float = 30) -> str:
        self._listening.wait(timeout)
        if self.url is None:
            raise AssertionError(f"{self.name} did not start: "
                                 f"{self.stderr.read_text(errors='replace')[-2000:]}")
        return self.url

    def finish(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self.join()
        return code

    def join(self) -> None:
        """Wait until everything the process printed is in :attr:`stdout`."""
        self._reader.join(10)


def config_text(work: Path, db_url: str, fakes: dict[str, dict], signer: FakeSendGrid) -> str:
    return f"""
data_dir = "{work / 'data'}"
[server]
host = "127.0.0.1"
port = 0
public_url = "{PUBLIC_URL}"
[database]
url = "{db_url}"
pool_size = 4
[logging]
format = "json"
level = "DEBUG"
[security]
pii_keys = ["{generate_fernet_key()}"]
lookup_key = "canary-lookup-{uuid.uuid4().hex}"
outbound_allow = ["127.0.0.0/8"]
[worker]
lease_seconds = 3
idle_poll_seconds = 0.05
retry_base_seconds = 0.1
retry_max_seconds = 0.5
send_timeout_seconds = 5
max_attempts = 3
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.sg]
type = "sendgrid"
api_key = "SG.fake-key"
base_url = "{fakes['sg']['url']}"
webhook_public_key = "{signer.public_key_b64}"
breaker_failure_threshold = 1
breaker_cooldown_seconds = 1
[sinks.md]
type = "mailchimp_transactional"
api_key = "md-fake-key"
base_url = "{fakes['md']['url']}/api/1.3"
webhook_key = "{MANDRILL_WEBHOOK_KEY}"
[sinks.tw]
type = "twilio_sms"
account_sid = "{TWILIO_SID}"
auth_token = "{TWILIO_TOKEN}"
from_number = "+15005550006"
base_url = "{fakes['tw']['url']}"
[channels.email]
providers = ["sg", "md"]
[channels.sms]
providers = ["tw"]
[notifications.stages.requested]
channels = ["email"]
[notifications.stages.approved]
channels = ["email", "sms"]
[notifications.stages.label_created]
channels = ["email"]
[notifications.stages.in_transit]
channels = ["email"]
[notifications.stages.refunded]
channels = ["email", "sms"]
"""


# -- the hub's HTTP side ------------------------------------------------------------------------

class Client:
    """Talks to the running hub; keeps every answer body that must not reflect the canary."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url, self.token = session, url, token
        #: (what, status, body) of every answer checked for the canary.
        self.answers: list[tuple[str, int, str]] = []

    def real(self, public: str) -> str:
        """The listening address for a URL under :data:`PUBLIC_URL`."""
        parts = urlsplit(public)
        return self.url + parts.path + (f"?{parts.query}" if parts.query else "")

    async def request(self, method: str, path: str, *, check: bool = True,
                      **kwargs: Any) -> tuple[int, str]:
        async with self.session.request(method, URL(self.url + path, encoded=True),
                                        **kwargs) as answer:
            body = await answer.text()
        if check:
            self.answers.append((f"{method} {path.split('?')[0]}", answer.status, body))
        return answer.status, body

    async def api(self, method: str, path: str, *, check: bool = True,
                  **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        status, body = await self.request(method, path, headers=headers, check=check, **kwargs)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    async def event(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        status, text = await self.request("POST", "/webhooks/shop", data=body,
                                          headers=signed_headers(body))
        assert status == 202, (status, text)

    async def notifications(self) -> list[dict[str, Any]]:
        status, page = await self.api("GET", "/api/notifications?limit=200", check=False)
        assert status == 200, page
        return page["items"]

    async def settled(self, expected: int) -> list[dict[str, Any]]:
        """Wait until at least ``expected`` notifications exist and none is in flight."""
        found: list[dict[str, Any]] = []

        async def done() -> bool:
            found[:] = await self.notifications()
            return len(found) >= expected and all(n["status"] in SETTLED for n in found)

        try:
            # Generous: right after the chaos run the machine is still busy (CI saw 30 s pass).
            await wait_for(done, timeout=120, interval=0.2)
        except AssertionError:
            raise AssertionError(f"notifications did not settle: "
                                 f"{[(n['stage'], n['channel'], n['status']) for n in found]}"
                                 ) from None
        return found


async def set_faults(session: aiohttp.ClientSession, url: str, faults: dict) -> None:
    async with session.post(f"{url}/__fake__/faults", data=json.dumps(faults)) as answer:
        assert answer.status == 200, await answer.text()


# -- the run ------------------------------------------------------------------------------------

async def drive(client: Client, session: aiohttp.ClientSession, canary: Canary,
                fakes: dict[str, dict], work: Path, signer: FakeSendGrid) -> dict[str, Any]:
    """Everything that makes the hub handle (and talk about) the canary customer."""
    customer = canary.customer(id=f"C-canary-{canary.tag[:8]}")
    ref = f"R-canary-{canary.tag[:8]}"
    extra = {"shipping_address": canary.address(), "note": f"Please call {canary.name}"}
    minute = iter(range(1, 100))

    def event(kind: str, reference: str = ref, who: dict | None = None, **fields: Any) -> dict:
        return event_payload(kind, reference, minutes=next(minute), customer=who or customer,
                             extra=extra, **fields)

    # 1. "requested": SendGrid refuses the message (400): the hub records the refusal (attempt,
    #    last error) for this customer's notification.
    await set_faults(session, fakes["sg"]["url"], {"fail_next": {"count": 1, "status": 400}})
    await client.event(event("return.requested"))
    await client.settled(1)

    # 2. "approved": SendGrid unavailable (503): its breaker opens (logged), the email fails
    #    over to Mandrill; the SMS goes to Twilio. After the cooldown SendGrid is used again.
    await set_faults(session, fakes["sg"]["url"], {"fail_next": {"count": 1, "status": 503}})
    await client.event(event("return.approved"))
    await client.settled(3)
    await set_faults(session, fakes["sg"]["url"], {"reset": True})
    await asyncio.sleep(1.2)  # breaker_cooldown_seconds

    # 3. The rest of the lifecycle, normally.
    tracking = {"carrier": "UPS", "number": f"1Z{canary.tag[:16].upper()}",
                "url": "https://www.ups.com/track", "label_url": "https://labels.example/1.pdf"}
    await client.event(event("return.label_created", tracking=tracking))
    await client.event(event("return.in_transit", tracking=tracking))
    await client.event(event("return.refunded", refund_method="original_payment"))
    # A second return of the same person known by email only (no platform customer id).
    await client.event(event("return.requested", f"{ref}-2",
                             who=canary.customer()))
    notifications = await client.settled(8)

    # 4. Status webhooks that name the customer.
    emails = records(work / "sg.jsonl")
    assert emails, "SendGrid accepted nothing"
    bounce_reason = (f"550 5.1.1 <{canary.email}>: Recipient address rejected: User unknown "
                     f"in virtual mailbox table")
    events = signer.events_for(emails[0], "bounce", reason=bounce_reason)
    events += [e for r in emails[1:] for e in signer.events_for(r, "delivered")]
    events += signer.events_for(emails[-1], "open")
    status = await signer.send_events(f"{client.url}/webhooks/sg", events)
    assert status == 200, status

    mandrill = records(work / "md.jsonl")
    assert mandrill, "the email did not fail over to Mandrill"
    params = {"mandrill_events": json.dumps([FakeMandrill().event_for(mandrill[0],
                                                                        "hard_bounce")])}
    url = f"{PUBLIC_URL}/webhooks/md"
    status, text = await client.request(
        "POST", "/webhooks/md", data=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Mandrill-Signature": mandrill_signature(MANDRILL_WEBHOOK_KEY, url, params)})
    assert status == 200, (status, text)

    twilio = FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    texts = records(work / "tw.jsonl")
    assert texts, "Twilio accepted nothing"

    async def twilio_form(public: str, params: dict[str, str]) -> None:
        status, text = await client.request(
            "POST", client.real(public)[len(client.url):], data=urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, public, params),
                     "I-Twilio-Idempotency-Token": str(uuid.uuid4())})
        assert status == 200, (status, text)

    failed = twilio.status_params(texts[0], "undelivered", error_code=30005)
    failed["ErrorMessage"] = f"Unknown destination handset {canary.phone}"
    await twilio_form(texts[0]["request"]["StatusCallback"], failed)
    for record in texts[1:]:
        await twilio_form(record["request"]["StatusCallback"],
                          twilio.status_params(record, "delivered"))
    inbound = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": TWILIO_SID,
               "From": canary.phone, "To": "+15005550006", "NumMedia": "0",
               "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    await twilio_form(f"{PUBLIC_URL}/webhooks/tw", {
        **inbound, "Body": f"Hi, this is {canary.name}, where is my refund? {canary.email}"})
    await twilio_form(f"{PUBLIC_URL}/webhooks/tw", {
        **inbound, "MessageSid": "SM" + uuid.uuid4().hex, "Body": "STOP"})

    settled = {(n["channel"], n["status"]) for n in await client.notifications()}
    assert {("email", "bounced"), ("sms", "failed")} <= settled, settled

    # 5. Webhooks refused: the canary is in the body; neither the answer nor the log repeats it.
    refused = await post_malformed(client, canary, event("return.approved"))

    # 6. The admin API and the dashboard, looking the customer up.
    looked_up = await admin_lookups(client, canary, ref)
    return {"notifications": len(notifications), "refused": refused, **looked_up}


async def post_malformed(client: Client, canary: Canary, good: dict[str, Any]) -> dict[str, int]:
    """Webhooks the hub must refuse (4xx), each carrying the canary; returns status per case."""
    cases: dict[str, tuple[bytes, dict[str, str] | None]] = {}

    def case(name: str, payload: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> None:
        cases[name] = (raw if raw is not None else json.dumps(payload).encode(), headers)

    body = json.dumps(good).encode()
    case("truncated json", raw=body[:body.index(canary.email.encode()) + 20])
    case("unknown event type", {**good, "type": f"return.{canary.first_name}"})
    case("unknown customer field", {**good, "customer": {**good["customer"],
                                                         "address": canary.street}})
    case("email not a string", {**good, "customer": {**good["customer"],
                                                     "email": [canary.email]}})
    case("phone not a string", {**good, "customer": {**good["customer"],
                                                     "phone": {"number": canary.phone}}})
    case("name as a key", {**good, "customer": {canary.name: canary.email}})
    case("email as a key", {**good, "customer": {canary.email: canary.phone}})
    case("name in the amount", {**good, "refund_amount": {"amount": canary.name,
                                                          "currency": "USD"}})
    case("name as the currency", {**good, "refund_amount": {"amount": "1",
                                                            "currency": canary.first_name}})
    case("name as the date", {**good, "occurred_at": canary.name})
    case("reserved field", {**good, "source": canary.email})
    case("not an object", [canary.email, canary.phone, canary.name])
    case("no return id", {k: v for k, v in good.items() if k != "return_id"})
    case("bad signature", good, headers={**signed_headers(body), "webhook-signature":
                                         "v1,AAAA"})
    case("wrong content type", good, headers={**signed_headers(body),
                                              "content-type": "text/plain"})
    statuses = {}
    for name, (data, headers) in cases.items():
        status, text = await client.request("POST", "/webhooks/shop", data=data,
                                            headers=headers or signed_headers(data))
        statuses[name] = status
        assert 400 <= status < 500, (name, status, text)
    return statuses


async def admin_lookups(client: Client, canary: Canary, ref: str) -> dict[str, Any]:
    """Admin API and dashboard calls about the canary; every answer (but the GDPR export, and
    the dashboard echoing its own search box) must show the contact details masked."""
    status, page = await client.api("GET", f"/api/returns?email={quote(canary.email)}")
    assert status == 200 and page["items"], page
    status, page = await client.api("POST", "/api/returns/search",
                                    json={"phone": canary.phone})
    assert status == 200 and page["items"], page
    return_ids = [item["id"] for item in page["items"]]
    status, page = await client.api("POST", "/api/customers/search",
                                    json={"email": canary.email})
    assert status == 200 and page["items"], page
    customer_ids = [item["id"] for item in page["items"]]
    # The STOP reply was matched to the customer by phone.
    assert all(item["preferences"].get("sms") is False for item in page["items"]), page
    status, _ = await client.api("POST", "/api/customers/search", json={"phone": canary.phone})
    assert status == 200
    for customer_id in customer_ids:
        assert (await client.api("GET", f"/api/customers/{customer_id}"))[0] == 200
        status, _ = await client.api("PATCH", f"/api/customers/{customer_id}/preferences",
                                     json={"channels": {"email": True}})
        assert status == 200
    for return_id in return_ids:
        assert (await client.api("GET", f"/api/returns/{return_id}"))[0] == 200
        assert (await client.api("GET", f"/api/returns/{return_id}/timeline"))[0] == 200
        status, _ = await client.request("GET", f"/admin/?return={return_id}",
                                         headers={"Authorization": f"Bearer {client.token}"})
        assert status == 200
    for item in await client.notifications():
        assert (await client.api("GET", f"/api/notifications/{item['id']}"))[0] == 200
    for path in ("/api/notifications?limit=200", "/api/dead-letters/notifications",
                 "/api/dead-letters/inbox", "/api/audit", "/api/connectors", "/admin/"):
        status, _ = await client.api("GET", path)
        assert status == 200, path
    await client.api("GET", "/api/templates/preview?stage=approved&channel=email")
    # The dashboard's lookup by email: the page repeats the search box, nothing more.
    status, page = await client.request(
        "GET", f"/admin/?q={quote(canary.email)}", check=False,
        headers={"Authorization": f"Bearer {client.token}"})
    assert status == 200
    echoed = page.lower().count(canary.email.lower())
    client.answers.append(("GET /admin/?q=<email> (search box removed)", status,
                           page.replace(canary.email, "").replace(quote(canary.email), "")))
    # The GDPR export is the one answer that must contain the customer's data.
    status, export = await client.api("GET", f"/api/customers/{customer_ids[0]}/export",
                                      check=False)
    assert status == 200 and canary.email in json.dumps(export), export
    return {"returns": len(return_ids), "customers": len(customer_ids),
            "dashboard_search_echoes": echoed}


# -- the database dump ----------------------------------------------------------------------------

async def dump_database(db_url: str) -> tuple[str, str]:
    """(how, text) of a full dump of the hub's database."""
    if db_url.startswith("sqlite"):
        path = db_url.split(":///", 1)[1]
        connection = sqlite3.connect(path)
        try:
            text = "\n".join(connection.iterdump())
        finally:
            connection.close()
        return "sqlite iterdump", text
    database = db_url.rsplit("/", 1)[1]
    dump = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres",
                           "--no-password", database], capture_output=True, text=True,
                          timeout=60, check=False) if _has_pg_dump() else None
    if dump is not None and dump.returncode == 0:
        return "pg_dump", dump.stdout
    import asyncpg

    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        lines = []
        for table in await connection.fetch(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = 'public'"):
            for row in await connection.fetch(
                    f'SELECT t::text AS row FROM "{table["tablename"]}" t'):  # noqa: S608 (names from pg_tables)
                lines.append(f"{table['tablename']}: {row['row']}")
    finally:
        await connection.close()
    return "SELECT every row::text", "\n".join(lines)


def _has_pg_dump() -> bool:
    from shutil import which

    return which("pg_dump") is not None


# -- the test -----------------------------------------------------------------------------------

@pytest.mark.slow
async def test_pii_canary_never_in_logs_or_database(tmp_path: Path, db_url: str) -> None:
    started = time.monotonic()
    canary = make_canary()
    needles = canary.needles()
    work, logs = tmp_path, tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen] = []
    nodes: list[HubNode] = []
    fakes: dict[str, dict] = {}
    for key, module in (("sg", "fake_sendgrid"), ("md", "fake_mandrill"),
                        ("tw", "fake_twilio")):
        extra = ("--account-sid", TWILIO_SID, "--auth-token", TWILIO_TOKEN) if key == "tw" else ()
        process, fakes[key] = start_fake(module, work / f"{key}.jsonl", logs / "fakes.log",
                                         *extra)
        processes.append(process)
    signer = FakeSendGrid()  # signs the Event Webhook batches the hub verifies
    config = work / "hub.toml"
    config.write_text(config_text(work, db_url, fakes, signer))
    report: dict[str, Any] = {}
    try:
        for name, args in (("upgrade", ("db", "upgrade")),
                           ("token", ("tokens", "create", "canary-admin", "--scope", "admin"))):
            node = HubNode(name, config, logs, *args)
            nodes.append(node)
            assert node.finish() == 0, node.stderr.read_text(errors="replace")
        token = nodes[-1].stdout.read_text().split()[0]
        ingress = HubNode("serve", config, logs, "serve", "--no-workers")
        worker = HubNode("worker", config, logs, "worker")
        nodes += [ingress, worker]
        processes += [ingress.process, worker.process]
        url = ingress.wait_listening()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            client = Client(session, url, token)
            report = await drive(client, session, canary, fakes, work, signer)
        status_node = HubNode("status", config, logs, "status")
        nodes.append(status_node)
        assert status_node.finish() == 0
    finally:
        await signer.close()
        stop_all(processes)
        for node in nodes:
            node.join()

    # Positive control: the canary reached the providers through the hub.
    sent = {key: (work / f"{key}.jsonl").read_text() if (work / f"{key}.jsonl").exists()
            else "" for key in fakes}
    assert canary.email in sent["sg"], "the canary email never reached SendGrid"
    assert canary.email in sent["md"], "the canary email never reached Mandrill (failover)"
    assert canary.phone in sent["tw"], "the canary phone never reached Twilio"
    assert canary.first_name in sent["sg"], "the canary name never reached an email"

    # Answers the hub gave: the refused webhooks, the admin API, the dashboard.
    answer_hits = [(what, status, label, excerpt) for what, status, body in client.answers
                   for label, excerpt in search_text(body, needles)]

    # Every line the hub processes wrote.
    lines = 0
    log_hits: list[tuple[str, str, str]] = []
    for node in nodes:
        for path in (node.stdout, node.stderr):
            text = path.read_text(errors="replace") if path.exists() else ""
            lines += len(text.splitlines())
            log_hits += [(path.name, label, excerpt)
                         for label, excerpt in search_text(text, needles)]

    # The database.
    how, dump = await dump_database(db_url)
    dump_hits = search_text(dump, {**needles, **hex_needles(needles)})
    raw_hits: list[str] = []
    if db_url.startswith("sqlite"):
        raw = Path(db_url.split(":///", 1)[1]).read_bytes().lower()
        raw_hits = [label for label, needle in needles.items() if needle.lower().encode() in raw]

    summary = (f"[{db_url.split(':', 1)[0]}] canary {canary.email} {canary.phone} "
               f"{canary.name!r}: {report.get('notifications')} notifications; "
               f"{len(client.answers)} hub answers checked, {len(answer_hits)} hits; "
               f"{lines} log lines from {len(nodes)} hub processes searched, "
               f"{len(log_hits)} hits; database dump ({how}) {len(dump.encode())} bytes, "
               f"{len(dump_hits)} hits; raw database file hits: {len(raw_hits)}; "
               f"refused webhooks: {report.get('refused')}; "
               f"{time.monotonic() - started:.1f} s")
    print(summary)
    # The logs were kept, at DEBUG, and the hub did log about the canary's requests.
    logged = "\n".join(path.read_text(errors="replace") for node in nodes
                       for path in (node.stdout, node.stderr) if path.exists())
    assert '"level": "debug"' in logged, f"no DEBUG line logged: {summary}"
    assert logged.count('"webhook_rejected"') >= len(report["refused"]) - 1, summary
    assert '"provider_breaker_changed"' in logged, summary
    found = [*(f"log {name}: [{label}] {excerpt}" for name, label, excerpt in log_hits),
             *(f"dump: [{label}] {excerpt}" for label, excerpt in dump_hits),
             *(f"raw database file: [{label}]" for label in raw_hits),
             *(f"answer to {what} ({status}): [{label}] {excerpt}"
               for what, status, label, excerpt in answer_hits)]
    assert not found, f"{summary}\nthe canary in clear:\n" + "\n".join(found[:40])
