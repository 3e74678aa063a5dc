"""The merchant example rules leave no order value undecided: $100 exactly is held (not under
$100, so not auto-approved), in config/examples/rules.toml and in the embedded default."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hub.rules import RuleEngine, RuleSettings

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ["config/examples/rules.toml", "config/returnhub.toml"]


def engine(config: str) -> RuleEngine:
    rules = tomllib.loads((ROOT / config).read_text())["rules"]
    return RuleEngine([RuleSettings.model_validate(r) for r in rules])


def wrong_size_request(total: float) -> dict:
    return {"stage": "requested", "reason": "wrong_size", "reasons": ["wrong_size"],
            "order": {"total": total, "currency": "USD"}, "days_since_delivery": 3.0,
            "tags": []}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize(("total", "decided"), [
    (99.99, "approve"), (100.0, "hold"), (100.01, "hold")])
def test_every_order_value_is_decided(config: str, total: float, decided: str):
    decision = engine(config).evaluate(wrong_size_request(total))
    assert decision.transition is not None, f"an order of ${total} is left undecided"
    assert decision.transition.do == decided


def test_the_default_config_runs_the_example_rules():
    assert tomllib.loads((ROOT / CONFIGS[0]).read_text())["rules"] == \
        tomllib.loads((ROOT / CONFIGS[1]).read_text())["rules"]
