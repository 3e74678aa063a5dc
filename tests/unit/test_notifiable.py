"""The "may this event notify?" decision, what a polled source's history becomes, and the
customer-facing reference chosen per source. Pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.config import ConfigError, load_settings
from hub.events import EventType, ReturnEvent
from hub.notifiable import (
    NoticeGate,
    OnboardingSettings,
    StalenessSettings,
    notice_verdict,
)
from hub.processing.onboarding import HistoryFilter
from hub.references import pick_reference

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def event(days_old: float = 0, **fields) -> ReturnEvent:
    return ReturnEvent(type=EventType.REFUNDED, return_id="R-1", source="erp",
                       occurred_at=NOW - timedelta(days=days_old), **fields)


@pytest.mark.parametrize(("stage", "days_old", "notify"), [
    ("refunded", 6.9, True), ("refunded", 7.1, False),
    ("label_created", 1.9, True), ("label_created", 2.1, False),
    ("in_transit", 3, False), ("team_review", 6, True), ("a_custom_stage", 8, False),
])
def test_each_stage_has_a_default_age_after_which_it_is_stale(stage, days_old, notify):
    verdict = NoticeGate(StalenessSettings()).verdict(event(days_old), stage, NOW)
    assert verdict.notify is notify
    if not notify:
        assert verdict.reason.startswith("stale: occurred ")
        assert f"({stage} messages are not sent after" in verdict.reason


def test_configured_ages_override_the_defaults_and_zero_means_never():
    gate = NoticeGate(StalenessSettings(stale_after_days={"refunded": 30, "label_created": 0}))
    assert gate.verdict(event(20), "refunded", NOW).notify
    assert not gate.verdict(event(31), "refunded", NOW).notify
    assert gate.verdict(event(400), "label_created", NOW).notify
    assert not gate.verdict(event(3.5), "approved", NOW).notify  # the default still applies


def test_backfilled_history_is_silent_unless_the_source_asks():
    history = event(0, extra={"backfill": True})
    assert not NoticeGate(StalenessSettings()).verdict(history, "refunded", NOW).notify
    loud = NoticeGate(StalenessSettings(), {"erp": OnboardingSettings(notify_backfill=True)})
    assert loud.verdict(history, "refunded", NOW).notify
    assert not loud.verdict(event(30, extra={"backfill": True}), "refunded", NOW).notify


def test_an_event_from_the_future_is_not_stale():
    assert notice_verdict(stage="refunded", occurred_at=NOW + timedelta(days=1),
                          received_at=NOW, backfill=False, notify_backfill=False,
                          stale_after=timedelta(days=7)).notify


def test_config_names_a_bad_setting(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text('[notifications.stale_after_days]\nrefunded = -1\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert any(p.startswith("notifications.stale_after_days:") and "refunded" in p
               for p in caught.value.problems)


def history(policy: OnboardingSettings, *, first_pass: bool = False) -> HistoryFilter:
    return HistoryFilter(policy, NOW - timedelta(hours=1), first_pass=first_pass, now=NOW)


def test_a_new_source_starts_from_now():
    start_now = history(OnboardingSettings())
    assert start_now.admit(event(30)) is None  # before the source was connected
    news = event(0)
    assert start_now.admit(news) is news
    assert history(OnboardingSettings(), first_pass=True).admit(event(0)) is None


def test_a_backfill_marks_history_and_drops_what_is_too_old():
    backfill = history(OnboardingSettings(start="backfill", backfill_max_age_days=90))
    kept = backfill.admit(event(30))
    assert kept is not None and kept.extra["backfill"] is True
    assert backfill.admit(event(120)) is None
    assert "backfill" not in backfill.admit(event(0)).extra
    everything = history(OnboardingSettings(start="backfill"))
    assert everything.admit(event(3000)).extra["backfill"] is True


def test_the_customer_reference_is_chosen_per_source():
    shopify = ReturnEvent(type=EventType.APPROVED, return_id="gid://shopify/Return/1001",
                          order_number="#5001", customer_reference="#5001-R1",
                          extra={"return_name": "#5001-R1"})
    assert pick_reference(shopify, "source") == "#5001-R1"
    assert pick_reference(shopify, "return_name") == "#5001-R1"
    assert pick_reference(shopify, "order_name") == "#5001"
    assert pick_reference(shopify, "rma") == "gid://shopify/Return/1001"
    assert pick_reference(shopify.model_copy(update={"extra": {}}), "return_name") is None
