"""Customers: lookup by email or phone (keyed hash) and channel preferences."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from hub.store.engine import utcnow
from hub.store.models import Customer, Return
from hub.web.admin import audit
from hub.web.admin.errors import ApiError, not_found
from hub.web.admin.masking import mask_email, mask_phone
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import (
    CustomerList,
    CustomerOut,
    CustomerSearchBody,
    IntId,
    PreferencesBody,
)
from hub.web.admin.scoping import Scope

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub

router = ApiRouter(tag="customers")


async def customer_visible(session: AsyncSession, scope: Scope, customer: Customer) -> bool:
    """A limited token sees a customer only when it sees every one of their returns (and they
    have one): changes and exports concern all of them."""
    if not scope.token.limited:
        return True
    returns = list((await session.execute(select(Return).where(
        Return.customer_id == customer.id))).scalars())
    return bool(returns) and len(await scope.visible(session, returns)) == len(returns)


async def get_customer(session: AsyncSession, scope: Scope, customer_id: int) -> Customer:
    """The customer, or 404 when unknown or outside the token's limits."""
    customer = await session.get(Customer, customer_id)
    if customer is None or not await customer_visible(session, scope, customer):
        raise not_found("customer")
    return customer


async def customer_out(session: AsyncSession, hub: Hub, customer: Customer) -> CustomerOut:
    """A customer with masked contact details."""
    count = (await session.execute(select(func.count()).select_from(Return).where(
        Return.customer_id == customer.id))).scalar_one()
    return CustomerOut(
        id=customer.id, email=mask_email(hub.cipher.decrypt(customer.email_enc)),
        phone=mask_phone(hub.cipher.decrypt(customer.phone_enc)), locale=customer.locale,
        timezone=customer.timezone, preferences=dict(customer.preferences or {}),
        returns=count, created_at=customer.created_at, updated_at=customer.updated_at)


@router.route("POST", "/api/customers/search", summary="Find customers by email or phone",
              scope="read", body=CustomerSearchBody, response=CustomerList)
async def search_customers(call: Call) -> CustomerList:
    """Matched through the keyed lookup hash; the address is never stored or logged. A POST
    so that the address stays out of URLs and proxy logs."""
    body: CustomerSearchBody = call.body
    hub = call.hub
    column = Customer.email_hash if body.email else Customer.phone_hash
    digest = hub.cipher.lookup_hash(body.email or body.phone)
    scope = Scope(hub, call.token)
    async with hub.sessionmaker() as session:
        rows = list((await session.execute(select(Customer).where(column == digest)
                                           .order_by(Customer.id).limit(50))).scalars())
        items = [await customer_out(session, hub, row) for row in rows
                 if await customer_visible(session, scope, row)]
    return CustomerList(items=items)


@router.route("GET", "/api/customers/{id}", summary="One customer and their preferences",
              scope="read", path_model=IntId, response=CustomerOut,
              errors={404: "No such customer, or outside the token's limits."})
async def get_customer_endpoint(call: Call) -> CustomerOut:
    """Contact details masked; preferences as stored."""
    async with call.hub.sessionmaker() as session:
        customer = await get_customer(session, Scope(call.hub, call.token), call.path.id)
        return await customer_out(session, call.hub, customer)


@router.route("PATCH", "/api/customers/{id}/preferences", summary="Opt a customer in or out "
              "of channels", scope="operate", path_model=IntId, body=PreferencesBody,
              response=CustomerOut, audited=True,
              errors={404: "No such customer, or outside the token's limits."})
async def change_preferences(call: Call) -> CustomerOut:
    """``{"channels": {"sms": false}}`` opts out of SMS; channels not named are unchanged.
    Future notifications respect it (the planner skips opted-out channels)."""
    body: PreferencesBody = call.body
    known = set(call.hub.settings.channels)
    for channel in body.channels:
        if channel not in known:
            raise ApiError(422, "invalid_field", f"channels.{channel}: not a configured channel "
                           f"({', '.join(sorted(known))})", field=f"channels.{channel}")
    now = utcnow()
    async with call.hub.sessionmaker() as session, session.begin():
        customer = await get_customer(session, Scope(call.hub, call.token), call.path.id)
        before = dict(customer.preferences or {})
        customer.preferences = {**before, **body.channels}
        customer.updated_at = now
        audit.record(session, call.token, "customer.preferences", f"customer:{customer.id}",
                     {"before": before, "after": customer.preferences}, now)
        await session.flush()
        return await customer_out(session, call.hub, customer)
