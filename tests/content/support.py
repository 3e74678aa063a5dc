"""Helpers shared by the content tests: stages, languages, a composer."""

from __future__ import annotations

import html5lib

from hub.config import Settings
from hub.content.composer import Composer
from hub.events import ReturnState
from hub.security import PiiCipher, generate_fernet_key
from hub.store.codec import EventCodec
from hub.store.engine import utcnow
from hub.store.models import Customer, Notification, Return
from hub.store.outbox import Claimed
from hub.templates import TemplateRenderer

#: Every stage that notifies a customer (each state a return can reach, and a carrier
#: exception), each with a bundled template in every language.
STAGES = (*(state.value for state in ReturnState), "shipment_exception")
CHANNELS = ("email", "sms", "portal")
#: A locale per bundled language set, and the folder prefix its files come from.
LOCALES = {"en-US": "", "fr-FR": "fr/", "de-DE": "de/"}


def strict_html(html: str) -> None:
    """Parse with html5lib's strict parser: any parse error raises ParseError."""
    html5lib.HTMLParser(strict=True).parse(html)


def make_composer(settings: Settings, renderer: TemplateRenderer | None = None,
                  portal: bool = True) -> Composer:
    """A composer with a fresh cipher (no database, no sinks)."""
    cipher = PiiCipher([generate_fernet_key()], "lookup-key")
    composer = Composer(renderer or TemplateRenderer(), settings.notifications,
                        EventCodec(cipher))
    if portal:
        composer.portal_link = lambda source, ref, issued_at=None: (
            f"https://hub.example/portal/r/{source}.{ref}")
    return composer


def claimed(composer: Composer, *, stage: str = "approved", channel: str = "email",
            source: str = "shop", locale: str = "en-US", name: str | None = "Jane Doe",
            details: dict | None = None, to: str = "jane@example.com", **fields) -> Claimed:
    """A claimed notification of a return as the database would hand it to ``compose``."""
    cipher = composer.codec.cipher
    now = utcnow()
    ret = Return(id=1, source=source, external_id=fields.pop("external_id", "R-1001"),
                 state=stage, cycle=0, exception_flag=False, created_at=now, updated_at=now,
                 details_enc=composer.codec.encode_json(details) if details else None,
                 **fields)
    customer = Customer(id=1, name_enc=cipher.encrypt(name)) if name else None
    notification = Notification(id="n-1", idempotency_key="k", return_id=1, stage=stage,
                                channel=channel, template=stage, locale=locale,
                                recipient_enc=cipher.encrypt(to), status="sending",
                                attempts=0, next_attempt_at=now, event_received_at=now,
                                created_at=now)
    return Claimed(notification, ret, customer, "pending")
