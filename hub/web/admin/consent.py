"""Marketing consent of a customer, per channel, with its history (docs/consent.md).

Kept apart from the transactional channel preferences (``/api/customers/{id}/preferences``):
withdrawing marketing consent never stops messages about the customer's own returns.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 (pydantic)
from typing import Literal

from pydantic import Field

from hub import consent
from hub.store.engine import utcnow
from hub.store.models_consent import CONSENT_CHANNELS
from hub.web.admin import audit
from hub.web.admin.customers import get_customer
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import IntId, Out, Strict
from hub.web.admin.scoping import Scope

router = ApiRouter(tag="customers")


class ConsentChange(Out):
    """One grant or withdrawal."""

    channel: str
    granted: bool
    source: str
    recorded_at: datetime


class ConsentOut(Out):
    """A customer's marketing consent now, per channel, and every change before it."""

    customer_id: int
    channels: dict[str, bool] = Field(description='e.g. {"email": true, "sms": false}; '
                                      "false also when never recorded (opt-in).")
    history: list[ConsentChange]


class ConsentBody(Strict):
    """Marketing consent to record; channels not named are unchanged."""

    channels: dict[Literal["email", "sms"], bool] = Field(
        min_length=1, description='e.g. {"email": true, "sms": false}.')
    source: Literal["api", "import"] = Field(
        "api", description="Where the consent was given: api (default) or import (a bulk "
        "load of consent collected elsewhere).")


async def _out(session, customer_id: int) -> ConsentOut:  # noqa: ANN001
    states = {channel: (await consent.current(session, customer_id, channel)).granted
              for channel in CONSENT_CHANNELS}
    history = [ConsentChange(channel=row.channel, granted=row.granted, source=row.source,
                             recorded_at=row.recorded_at)
               for row in await consent.history(session, customer_id)]
    return ConsentOut(customer_id=customer_id, channels=states, history=history)


@router.route("GET", "/api/customers/{id}/consent", summary="A customer's marketing consent",
              scope="read", path_model=IntId, response=ConsentOut,
              errors={404: "No such customer, or outside the token's limits."})
async def get_consent(call: Call) -> ConsentOut:
    """Consent per channel now and its history (source and time of every change)."""
    async with call.hub.sessionmaker() as session:
        customer = await get_customer(session, Scope(call.hub, call.token), call.path.id)
        return await _out(session, customer.id)


@router.route("PUT", "/api/customers/{id}/consent", summary="Record marketing consent",
              scope="operate", path_model=IntId, body=ConsentBody, response=ConsentOut,
              audited=True, errors={404: "No such customer, or outside the token's limits."})
async def put_consent(call: Call) -> ConsentOut:
    """``{"channels": {"email": true}}`` grants email offers; a repeat changes nothing."""
    body: ConsentBody = call.body
    now = utcnow()
    async with call.hub.sessionmaker() as session, session.begin():
        customer = await get_customer(session, Scope(call.hub, call.token), call.path.id)
        for channel, granted in body.channels.items():
            await consent.record(session, customer.id, channel, granted, body.source, now)
        audit.record(session, call.token, "customer.consent", f"customer:{customer.id}",
                     {"channels": body.channels, "source": body.source}, now)
        await session.flush()
        return await _out(session, customer.id)
