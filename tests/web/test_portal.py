"""The customer portal: one return per signed link, friendly errors, live updates."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select

from hub.portal_links import make_token
from hub.store.engine import utcnow
from hub.store.models import PortalMessage, PortalView
from hub.testing.factories import event_payload
from tests.web.conftest import post_event, seed


def link(hub, reference: str, *, source: str = "shop", days: float = 1) -> str:
    token = make_token(hub.portal_key, source, reference, utcnow() + timedelta(days=days))
    return f"/portal/r/{token}"


async def test_the_page_shows_one_return_in_plain_words(portal_hub, portal_client):
    customer = {"id": "C-9", "email": "ana.lopez@example.com", "phone": "+14155550199",
                "name": "Ana Lopez"}
    await seed(portal_client, portal_hub, "PT-1", "return.approved", "return.label_created",
               customer=customer, tracking={"number": "1ZPT1", "carrier": "UPS",
                                            "url": "https://track.example/1ZPT1"})
    await seed(portal_client, portal_hub, "PT-2", "return.approved")
    response = await portal_client.get(link(portal_hub, "PT-1"))
    assert response.status == 200
    html = await response.text()
    assert "Hi Ana," in html and "Return PT-1" in html
    assert "Label ready" in html and "Return approved" in html
    assert "https://track.example/1ZPT1" in html
    assert "Expected refund" in html and "$29.00" in html
    for private in ("Lopez", "ana.lopez@example.com", "+14155550199", "PT-2", "outbox"):
        assert private not in html
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_notices_are_decrypted_shown_and_marked_read(portal_hub, portal_client):
    await seed(portal_client, portal_hub, "PT-3", "return.approved")
    async with portal_hub.sessionmaker() as session:
        rows = list((await session.execute(select(PortalMessage))).scalars())
    assert rows and all(r.read_at is None for r in rows)
    html = await (await portal_client.get(link(portal_hub, "PT-3"))).text()
    assert "Your return is approved" in html
    async with portal_hub.sessionmaker() as session:
        assert all(r.read_at is not None for r in (await session.execute(
            select(PortalMessage))).scalars())
        views = (await session.execute(select(PortalView))).scalars().all()
    assert len(views) == 1  # the dashboard's "where is my return" figure counts it


async def test_forged_expired_and_unknown_links_reveal_nothing(portal_hub, portal_client):
    await seed(portal_client, portal_hub, "PT-4", "return.approved",
               customer={"id": "C-4", "email": "x@example.com", "name": "Secret Person"})
    good = link(portal_hub, "PT-4")
    forged_signature = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    other_key = "/portal/r/" + make_token(b"not-the-key", "shop", "PT-4",
                                          utcnow() + timedelta(days=1))
    expired = link(portal_hub, "PT-4", days=-1)
    cases = [(forged_signature, 404), (other_key, 404), ("/portal/r/garbage", 404),
             ("/portal/r/a.b.c", 404), (link(portal_hub, "PT-404"), 404),
             (link(portal_hub, "PT-4", source="other-shop"), 404), (expired, 410)]
    for path, status in cases:
        response = await portal_client.get(path)
        assert response.status == status, path
        html = await response.text()
        assert "Secret" not in html and "PT-4" not in html and "Traceback" not in html
        assert "expired" in html if status == 410 else "find that return" in html
        events = await portal_client.get(path + "/events")
        assert events.status == status


async def test_new_stage_arrives_over_server_sent_events(portal_hub, portal_client):
    await seed(portal_client, portal_hub, "PT-5", "return.approved")
    page = await (await portal_client.get(link(portal_hub, "PT-5"))).text()
    version = page.split('data-version="', 1)[1].split('"', 1)[0]
    response = await portal_client.get(link(portal_hub, "PT-5") + "/events",
                                       params={"v": version})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    await post_event(portal_client, event_payload("return.received", "PT-5", minutes=90))
    await portal_hub.drain()

    async def update_to(state: str) -> dict:
        # An update for a write that landed after the page was read (the approval's own
        # outcome, under load) may come first: the page follows every change, in order.
        event, data = None, []
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
            elif line == "":
                if event == "update":
                    update = json.loads("\n".join(data))
                    if update["state"] == state:
                        return update
                event, data = None, []

    update = await asyncio.wait_for(update_to("received"), timeout=10)
    assert update["state"] == "received"
    assert [s["key"] for s in update["stages"]] == ["approved", "received"]
    assert update["stages"][-1]["title"] == "Received"
    assert "email" not in json.dumps(update)
    response.close()


async def test_the_page_speaks_the_customers_language(portal_hub, portal_client):
    # Found from outside by a merchant: a German customer, whose emails and notices were in
    # German, read "Hi Lena," and "Expected refund: 29,00 $, once we've checked your items".
    german = {"id": "C-DE", "email": "lena@example.com", "name": "Lena Schmidt",
              "locale": "de-DE"}
    await seed(portal_client, portal_hub, "PT-DE", "return.approved", customer=german)
    html = await (await portal_client.get(link(portal_hub, "PT-DE"))).text()
    assert '<html lang="de">' in html
    assert "Hallo Lena," in html and "Rücksendung PT-DE" in html
    assert "Rücksendung genehmigt" in html and "Voraussichtliche Erstattung: 29,00" in html
    for english in ("Hi Lena", "Expected refund", "Return approved", "Progress"):
        assert english not in html
    french = {"id": "C-FR", "email": "camille@example.com", "name": "Camille Martin",
              "locale": "fr-CA"}
    await seed(portal_client, portal_hub, "PT-FR", "return.approved", customer=french)
    html = await (await portal_client.get(link(portal_hub, "PT-FR"))).text()
    assert '<html lang="fr">' in html and "Bonjour Camille," in html and "Retour accepté" in html
    spanish = {"id": "C-ES", "email": "lucia@example.com", "name": "Lucía García",
               "locale": "es-ES"}  # no Spanish words: English, as the messages are
    await seed(portal_client, portal_hub, "PT-ES", "return.approved", customer=spanish)
    html = await (await portal_client.get(link(portal_hub, "PT-ES"))).text()
    assert '<html lang="en">' in html and "Hi Lucía," in html and "Return approved" in html
