"""Customer rows: identity, encrypted contact details, and merging what an event says.

The functions taking a ``row`` read and set its columns as attributes: a :class:`Customer`
entity, or the applier's plain row (:class:`hub.processing.applier.RowState`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contact import is_email, phone_problem
from hub.delivery.planner import Contact
from hub.jsonutil import dumps, loads
from hub.store.models import Customer

if TYPE_CHECKING:
    from datetime import datetime

    from hub.events import Customer as EventCustomer
    from hub.security import PiiCipher


def customer_identity(source: str, customer: EventCustomer | None, cipher: PiiCipher) -> str | None:
    """``<source>:<platform id>`` when the platform names the customer, else the email's keyed
    hash, else None. Never plaintext."""
    if customer is None:
        return None
    if customer.id:
        return f"{source}:{customer.id}"
    email_hash = cipher.lookup_hash(customer.email)
    return f"email:{email_hash}" if email_hash else None


def new_customer(identity: str, now: datetime) -> dict[str, Any]:
    """The column values of a new, empty customer row for ``identity`` (its id still None)."""
    values = dict.fromkeys(Customer.__table__.c.keys())
    values.update(identity=identity, preferences={}, created_at=now, updated_at=now)
    return values


def merge_customer(row: Any, data: EventCustomer, cipher: PiiCipher, now: datetime) -> None:
    """Overwrite the row's details with what the event says (only the fields it has). An
    email or phone that breaks the shared rules (:mod:`hub.contact`) never replaces a stored
    one: ingress refuses such events, but one may come from enrichment or an older inbox row."""
    if data.email and is_email(data.email.strip()):
        row.email_enc = cipher.encrypt(data.email.strip())
        row.email_hash = cipher.lookup_hash(data.email)
    if data.phone and phone_problem(data.phone) is None:
        row.phone_enc = cipher.encrypt(data.phone.strip())
        row.phone_hash = cipher.lookup_hash(data.phone)
    if data.name:
        row.name_enc = cipher.encrypt(data.name)
    if data.attributes:  # per name: an event naming one address keeps the others
        row.attributes_enc = cipher.encrypt(dumps({**attributes_of(row, cipher),
                                                   **data.attributes}))
    if data.locale:
        row.locale = data.locale
    if data.timezone:
        row.timezone = data.timezone
    row.updated_at = now


def contact_of(row: Any, cipher: PiiCipher) -> Contact:
    """Decrypt the row's contact details for planning."""
    if row is None:
        return Contact()
    return Contact(email=cipher.decrypt(row.email_enc), phone=cipher.decrypt(row.phone_enc),
                   locale=row.locale, timezone=row.timezone,
                   preferences=dict(row.preferences or {}),
                   attributes=attributes_of(row, cipher))


def attributes_of(row: Any, cipher: PiiCipher) -> dict[str, str]:
    """The customer's channel addresses (``customer.attributes``), decrypted."""
    token = getattr(row, "attributes_enc", None)
    return loads(cipher.decrypt(token)) if token is not None else {}
