"""The rule engine: ordering, stop, scopes, actions, errors named at start-up, dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings
from hub.rules import RuleEngine, RuleError, RuleSettings
from hub.runtime import Hub
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


def engine(*rules: dict) -> RuleEngine:
    return RuleEngine([RuleSettings.model_validate(r) for r in rules])


def variables(**overrides) -> dict:
    base = {"stage": "requested", "state": "", "reason": "wrong_size", "reasons": ["wrong_size"],
            "order": {"total": 80.0, "currency": "USD"}, "customer": {"tags": [],
            "order_count": 2}, "items": [], "categories": ["shoes"], "region": "DE",
            "days_since_delivery": 5.0, "source": "shop", "tags": [], "event": {},
            "refund": {}}
    base.update(overrides)
    return base


def test_rules_run_in_order_and_stop():
    rules = engine(
        {"name": "tag-vip", "when": '"vip" in customer.tags', "actions": [{"do": "tag",
                                                                            "tag": "vip"}]},
        {"name": "approve", "when": "true", "actions": [{"do": "approve"}], "stop": True},
        {"name": "never", "when": "true", "actions": [{"do": "hold"}]})
    decision = rules.evaluate(variables(customer={"tags": ["vip"], "order_count": 9}))
    assert [m.rule for m in decision.matched] == ["tag-vip", "approve"]
    assert decision.transition.do == "approve" and decision.tags == ["vip"]


def test_data_rules_cannot_hold_decides_nothing_and_names_no_value():
    """An integer beyond CEL's 64 bits in an event's data: no rule matches, each says why
    (without the value), and the event is not stopped; no rules at all means no work."""
    rules = engine({"name": "approve", "when": "true", "actions": [{"do": "approve"}]})
    decision = rules.evaluate(variables(event={"extra": {"n": 2**70}}))
    assert decision.transition is None and not decision.matched
    [match] = decision.matches
    assert "cannot be given to rules" in match.error and str(2**70) not in match.error
    assert engine().empty and not rules.empty
    assert engine().evaluate(variables(event={"extra": {"n": 2**70}})).matches == []


def test_scopes_limit_rules_to_regions_and_categories():
    rules = engine(
        {"name": "eu-shoes", "when": "true", "actions": [{"do": "hold"}],
         "scope": {"regions": ["de", "FR"], "categories": ["shoes"]}})
    assert rules.evaluate(variables()).transition is not None
    assert rules.evaluate(variables(region="US")).transition is None
    assert rules.evaluate(variables(categories=["shirts"])).transition is None


def test_suppress_notify_and_team_actions():
    rules = engine(
        {"name": "quiet", "when": "true", "actions": [
            {"do": "suppress", "channels": ["sms"]},
            {"do": "notify", "template": "approved_vip"},
            {"do": "notify_team", "webhook": "https://helpdesk.example/hook"}]})
    decision = rules.evaluate(variables())
    assert decision.suppresses("sms") and not decision.suppresses("email")
    assert decision.template == "approved_vip"
    assert decision.team[0].webhook == "https://helpdesk.example/hook"


def test_a_condition_that_is_not_boolean_does_not_match():
    decision = engine({"name": "odd", "when": "order.total", "actions": [{"do": "hold"}]}
                      ).evaluate(variables())
    assert decision.transition is None and "not a bool" in decision.matches[0].error


def test_invalid_rules_fail_at_start_up_naming_the_rule(tmp_path):
    with pytest.raises(RuleError) as error:
        engine({"name": "broken", "when": "stage == ", "actions": [{"do": "hold"}]},
               {"name": "fine", "when": "true", "actions": [{"do": "hold"}]},
               {"name": "fine", "when": "true", "actions": [{"do": "hold"}]})
    assert error.value.problems[0].startswith("rules[0] (broken).when:")
    assert "rules[2] (fine): the name is used twice" in error.value.problems
    with pytest.raises(ConfigError) as config_error:
        Hub.build(make_settings(tmp_path, rules=[
            {"name": "broken", "when": "stage ==", "actions": [{"do": "hold"}]}]))
    assert config_error.value.problems[0].startswith("rules[0] (broken).when:")
    config = tmp_path / "bad.toml"
    config.write_text('[[rules]]\nname = "x"\nwhen = "true"\nactions = [{ do = "teleport" }]\n')
    with pytest.raises(ConfigError) as unknown_action:
        load_settings(config)
    assert unknown_action.value.problems[0].startswith("rules.0.actions.0")


def test_rules_test_command_shows_matches_without_side_effects(tmp_path):
    config = tmp_path / "hub.toml"
    rules = (ROOT / "config/examples/rules.toml").read_text()
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[sources.shop]
type = "standard_webhooks"
secret = "whsec_c2VjcmV0"
[sinks.outbox]
type = "file"
directory = "{tmp_path / 'outbox'}"
[channels.email]
providers = ["outbox"]
[notifications.stages.approved]
channels = ["email"]
[notifications.stages.pending_review]
channels = ["email"]
{rules}
""")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "type": "return.requested", "return_id": "R-9", "reason": "Defective",
        "customer": {"email": "jane@example.com"},
        "order_total": {"amount": "250.00", "currency": "USD"}}))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "returnhub"), "--config", str(config), "rules",
         "test", str(event), "--source", "shop"], capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k != "RETURNHUB_CONFIG"}, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["transition"] == "hold" and report["final_state"] == "pending_review"
    matched = [r["rule"] for r in report["rules"] if r["matched"]]
    assert matched == ["hold-defective-or-expensive"]
    sends = {(s["stage"], s["to"]) for s in report["would_send"]}
    assert sends == {("pending_review", "j***@example.com"),
                     ("team_review", "s***@demo-store.example")}
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())
