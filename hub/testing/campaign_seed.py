"""Customers and returns written straight into the store, for campaign tests and the campaign
benchmark (20,000 customers through the pipeline would take longer than the measurement).

Customer ``n`` has ``customer<n>@example.com``; every ``consent_every``-th customer (n % k == 0)
has marketing consent; every return was refunded ``days_ago`` days ago for "Wrong size", its
one item in the category ``Shoes`` (even n) or ``Shirts`` (odd n); every fifth was settled by
an exchange."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from hub.store.engine import utcnow
from hub.store.models import Customer, Return, TimelineEntry
from hub.store.models_consent import MarketingConsent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.store.codec import EventCodec


async def seed_customers(sessionmaker: async_sessionmaker, codec: EventCodec, count: int, *,
                         start: int = 1, consent_every: int = 2, days_ago: float = 3,
                         chunk: int = 1000) -> None:
    """Write ``count`` customers, each with one refunded return (see the module docstring)."""
    cipher, now = codec.cipher, utcnow()
    refunded_at = now - timedelta(days=days_ago)
    for first in range(start, start + count, chunk):
        numbers = range(first, min(first + chunk, start + count))
        async with sessionmaker() as session, session.begin():
            await session.execute(insert(Customer), [{
                "identity": f"seed:{n}", "email_hash": cipher.lookup_hash(
                    f"customer{n}@example.com"),
                "email_enc": cipher.encrypt(f"customer{n}@example.com"),
                "phone_enc": cipher.encrypt(f"+1415{2_000_000 + n % 7_000_000:07d}"),
                "name_enc": cipher.encrypt(f"Customer {n}"), "locale": "en-US",
                "preferences": {},
                "created_at": now, "updated_at": now} for n in numbers])
            ids = dict((await session.execute(select(Customer.identity, Customer.id).where(
                Customer.identity.in_([f"seed:{n}" for n in numbers])))).all())
            await session.execute(insert(MarketingConsent), [{
                "customer_id": ids[f"seed:{n}"], "channel": channel, "granted": True,
                "source": "import", "recorded_at": now, "withdrawn_by_stop": False}
                for n in numbers if n % consent_every == 0 for channel in ("email", "sms")])
            await session.execute(insert(Return), [{
                "source": "shop", "external_id": f"SEED-{n}", "customer_reference": f"#S{n}",
                "customer_id": ids[f"seed:{n}"],
                "state": "exchange_shipped" if n % 5 == 0 else "refunded", "cycle": 0,
                "exception_flag": False, "reason": "Wrong size", "currency": "USD",
                "order_total": 49, "refund_amount": 49,
                "refund_method": "exchange" if n % 5 == 0 else "original_payment",
                "details_enc": codec.encode_json({"items": [{
                    "sku": f"SKU-{n}", "name": "Trail runner" if n % 2 == 0 else "Oxford shirt",
                    "quantity": 1, "category": "Shoes" if n % 2 == 0 else "Shirts",
                    "price": {"amount": "49.00", "currency": "USD"}}], "region": "US"}),
                "created_at": refunded_at - timedelta(days=7), "updated_at": refunded_at}
                for n in numbers])
            returns = dict((await session.execute(select(Return.external_id, Return.id).where(
                Return.external_id.in_([f"SEED-{n}" for n in numbers])))).all())
            await session.execute(insert(TimelineEntry), [{
                "return_id": returns[f"SEED-{n}"], "kind": "event", "outcome": "moved",
                "event_type": "return.refunded", "from_state": "received",
                "to_state": "refunded", "detail": {}, "occurred_at": refunded_at,
                "recorded_at": refunded_at} for n in numbers])
