"""The timeline credits a rule-made decision to the rule that made it, not to an earlier
rule that only tagged and notified."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.models import Return, RuleAction, TimelineEntry
from hub.testing.factories import event_payload
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers, started_hub

RULES = [
    {"name": "tag-and-tell", "when": 'stage == "requested"',
     "actions": [{"do": "tag", "tag": "size"}, {"do": "notify", "channels": ["email"]}]},
    {"name": "approve-small", "when": 'stage == "requested" && order.total < 100.0',
     "actions": [{"do": "approve"}], "stop": True},
]


@pytest.fixture
async def hub_with_rules(tmp_path: Path, db_url: str) -> AsyncIterator[Hub]:
    async with started_hub(make_settings(tmp_path, db_url, rules=RULES)) as instance:
        yield instance


async def test_the_approving_rule_is_credited_with_the_approval(hub_with_rules):
    hub = hub_with_rules
    body = json.dumps(event_payload("return.requested", "R-ATTR-1")).encode()
    async with TestClient(TestServer(create_app(hub))) as client:
        response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
        assert response.status == 202
    await hub.processor.drain()

    async with hub.sessionmaker() as session:
        ret = (await session.execute(select(Return).where(
            Return.external_id == "R-ATTR-1"))).scalar_one()
        entries = list((await session.execute(select(TimelineEntry).where(
            TimelineEntry.return_id == ret.id, TimelineEntry.kind == "rule"))).scalars())
        actions = list((await session.execute(select(RuleAction))).scalars())
    assert ret.state == "approved"
    matched = [e.detail["rule"] for e in entries if e.outcome == "matched"]
    assert matched == ["tag-and-tell", "approve-small"]
    [moved] = [e for e in entries if e.outcome == "moved"]
    assert (moved.detail["rule"], moved.detail["action"]) == ("approve-small", "approve")
    assert (moved.from_state, moved.to_state) == ("requested", "approved")
    assert [(a.rule, a.action) for a in actions] == [("approve-small", "approve")]


def test_the_first_deciding_rule_is_named_even_after_a_tagging_rule():
    from hub.rules import RuleEngine, RuleSettings

    engine = RuleEngine([RuleSettings.model_validate(r) for r in [
        *RULES[:1], {**RULES[1], "stop": False},
        {"name": "hold-later", "when": "true", "actions": [{"do": "hold"}]}]])
    decision = engine.evaluate({"stage": "requested", "order": {"total": 50.0}})
    assert decision.transition.do == "approve"
    assert decision.transition_rule == "approve-small"
    assert decision.as_dict()["transition_rule"] == "approve-small"
