"""The dry run says what the pipeline sends: the same event goes through ``hub.rules.dry_run``
(``returnhub rules test``, the admin API's ``/api/rules/dry-run``) and through the real pipeline
(inbox -> processor -> outbox rows and timeline), and both must name the same messages
(stage, channel, template, masked recipient), the same skipped ones (and why) and the same
withheld stage. Over the example events with the example rules, a customer known only by email
(the portal addresses customers by their identity in the hub), and generated events. On SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hub.events import ReturnEvent
from hub.processing.dryrun import mask_address
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification, Return, TimelineEntry
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "config/examples/events").glob("*.json"))
RULES = tomllib.loads((ROOT / "config/examples/rules.toml").read_text())["rules"]
STAGES = {
    "requested": {"channels": ["email", "portal"]},
    "pending_review": {"channels": ["email", "portal"]},
    "approved": {"channels": ["email", "sms", "portal"]},
    "declined": {"channels": ["email"]},
    "label_created": {"channels": ["email", "portal"]},
    "received": {"channels": ["email"]},
    "refunded": {"channels": ["email", "sms"]},
    "shipment_exception": {"channels": ["email"]},
}


@pytest.fixture
async def rules_hub(tmp_path: Path, db_url: str):
    """A hub with the example rules and a portal channel; nothing is delivered."""
    settings = make_settings(
        tmp_path, db_url, rules=RULES, notifications={"stages": STAGES},
        sinks={"outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
               "portal": {"type": "portal"}},
        channels={"email": {"providers": ["outbox"]}, "sms": {"providers": ["outbox"]},
                  "portal": {"providers": ["portal"]}})
    hub = Hub.build(settings)
    await hub.start(workers=False)
    hub.build_workers()
    try:
        yield hub
    finally:
        await hub.stop()


def _event(payload: dict) -> ReturnEvent:
    return ReturnEvent.model_validate({**payload, "source": "shop",
                                       "source_event_id": uuid.uuid4().hex})


def _said(dry: dict) -> list[tuple]:
    """What the dry run says: its messages, skipped ones and withheld stage."""
    lines = [("withheld", dry["withheld"])] if dry["withheld"] else []
    for send in dry["would_send"]:
        lines.append(("skipped", send["stage"], send["channel"], send["skipped"])
                     if "skipped" in send else
                     ("send", send["stage"], send["channel"], send["template"], send["to"]))
    return sorted(lines)


async def _done(hub: Hub, event: ReturnEvent) -> tuple[list[tuple], str | None, str]:
    """Run ``event`` through the pipeline: what it planned, skipped and withheld, the event's
    outcome, and the return's state after it."""
    async with hub.sessionmaker() as session:
        last = (await session.execute(select(func.max(TimelineEntry.id)))).scalar() or 0
    await hub.inbox.submit([event], utcnow())
    await hub.processor.drain()
    lines = []
    async with hub.sessionmaker() as session:
        entries = list((await session.execute(select(TimelineEntry).where(
            TimelineEntry.id > last).order_by(TimelineEntry.id))).scalars())
        outcome = next(e.outcome for e in entries if e.kind == "event")
        for entry in entries:
            if entry.kind != "notification":
                continue
            detail = entry.detail
            if entry.outcome == "withheld":
                lines.append(("withheld", detail["reason"]))
            elif entry.outcome == "skipped":
                lines.append(("skipped", detail["stage"], detail["channel"], detail["reason"]))
            else:
                row = await session.get(Notification, entry.notification_id)
                to = ("portal" if row.channel == "portal" else
                      mask_address(hub.cipher.decrypt(row.recipient_enc)))
                lines.append(("send", row.stage, row.channel, row.template, to))
        state = (await session.execute(select(Return.state).where(
            Return.source == event.source, Return.external_id == event.return_id))).scalar()
    return sorted(lines), state, outcome


async def _agree(hub: Hub, event: ReturnEvent) -> None:
    dry = await hub.rules.dry_run(event)
    done, state, outcome = await _done(hub, event)
    assert (dry["event_outcome"], _said(dry)) == (outcome, done), event.type.value
    if dry["event_outcome"] in ("moved", "flagged"):
        assert dry["final_state"] == state


async def test_the_example_events_with_the_example_rules(rules_hub):
    for path in EXAMPLES:  # in file order: one return, later events see the stored one
        await _agree(rules_hub, _event(json.loads(path.read_text())))


async def test_a_customer_known_only_by_email_gets_the_portal_notice(rules_hub):
    event = _event({"type": "return.requested", "return_id": f"R-{uuid.uuid4().hex[:8]}",
                    "reason": "Defective", "customer": {"email": "pat@example.com"},
                    "order_total": {"amount": "250.00", "currency": "USD"}})
    dry = await rules_hub.rules.dry_run(event)
    assert ("send", "pending_review", "portal", "pending_review", "portal") in _said(dry)
    await _agree(rules_hub, event)


_CUSTOMERS = st.sampled_from([
    None, {"id": "C-{n}", "email": "c{n}@example.com", "phone": "+14155550123"},
    {"email": "e{n}@example.com"}, {"phone": "+14155550199"},
    {"id": "D-{n}", "locale": "de-DE"}, {"email": "f{n}@example.com", "locale": "fr-FR",
                                "attributes": {"slack": "U{n}"}}])
_STEP = st.fixed_dictionaries({
    "type": st.sampled_from(["return.requested", "return.approved", "return.declined",
                             "return.label_created", "return.received", "return.refunded",
                             "return.closed", "return.reopened", "return.shipment_exception",
                             "return.updated", "return.cancelled"]),
    "customer": _CUSTOMERS,
    "reason": st.sampled_from([None, "Wrong size", "Defective"]),
    "total": st.sampled_from([None, "40.00", "100.00", "250.00"]),
    "days_since_delivery": st.sampled_from([None, 3, 45]),
    "age_days": st.sampled_from([0, 0, 0, 10]),
    "backfill": st.sampled_from([False, False, True]),
})


def _generated(step: dict, return_id: str, n: str) -> ReturnEvent:
    customer = step["customer"]
    if customer is not None:
        customer = {k: (v.format(n=n) if isinstance(v, str) else
                        {a: b.format(n=n) for a, b in v.items()}) for k, v in customer.items()}
    extra = {k: v for k, v in (("days_since_delivery", step["days_since_delivery"]),
                               ("backfill", step["backfill"] or None)) if v is not None}
    return _event({
        "type": step["type"], "return_id": return_id, "customer": customer,
        "reason": step["reason"], "extra": extra,
        "order_total": {"amount": step["total"], "currency": "USD"} if step["total"] else None,
        "occurred_at": (datetime.now(UTC) - timedelta(days=step["age_days"])).isoformat()})


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_STEP, min_size=1, max_size=3))
async def test_generated_events(rules_hub, steps):
    # One hub for every example (building one per example is slow): each example has its own
    # return and customers.
    n = uuid.uuid4().hex[:8]
    for step in steps:
        await _agree(rules_hub, _generated(step, f"R-{n}", n))
