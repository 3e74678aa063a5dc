"""The chaos run's per-channel and per-event verdict (tests/reliability/chaos_counts.py) on
made-up records: each duplicate gets the cause of the copy before it, and an event that missed
one channel is caught even when its other channel went through."""

from __future__ import annotations

from tests.reliability.chaos_counts import Copy, channel_counts, event_counts

ORIGIN = 1_000.0


def test_each_duplicate_is_explained_by_the_copy_before_it_or_not_at_all() -> None:
    copies = {
        "a": [Copy("sendgrid", ORIGIN + 1, "503"), Copy("mandrill", ORIGIN + 1.2)],
        "b": [Copy("sendgrid", ORIGIN + 10), Copy("sendgrid", ORIGIN + 13)],  # kill at 11
        "c": [Copy("sendgrid", ORIGIN + 20), Copy("sendgrid", ORIGIN + 30),
              Copy("sendgrid", ORIGIN + 31, "reset"), Copy("mandrill", ORIGIN + 31.5)],
        "d": [Copy("sendgrid", ORIGIN + 40)],
        "other-channel": [Copy("twilio", ORIGIN + 5), Copy("twilio", ORIGIN + 6)],
    }
    counts = channel_counts({"a", "b", "c", "d", "e"}, copies, kill_times=[11.0],
                            origin=ORIGIN, kill_window=3)
    assert counts["planned"] == 5 and counts["delivered"] == 4 and counts["lost"] == 1
    assert counts["duplicates"] == 5
    assert counts["duplicate_causes"] == {"answer_lost_503": 1, "answer_lost_reset": 1,
                                          "worker_killed": 1, "unexplained": 2}
    assert counts["unexplained_duplicates"] == 2  # c's copy at 30, and the one at 31 follows it
    assert counts["answers_lost_at_providers"] == 2


def test_a_kill_outside_the_window_explains_nothing() -> None:
    copies = {"a": [Copy("sendgrid", ORIGIN + 10), Copy("sendgrid", ORIGIN + 20)]}
    for kill in (8.5, 13.5):
        counts = channel_counts({"a"}, copies, [kill], ORIGIN, kill_window=3)
        assert counts["duplicate_causes"] == {"unexplained": 1}


def test_an_event_missing_one_channel_is_counted_for_that_channel() -> None:
    acknowledged = {"chaos-1": "R-chaos-1", "chaos-2": "R-chaos-2", "chaos-3": "R-chaos-3"}
    notifications = [("n1e", "email", "R-chaos-1"), ("n1s", "sms", "R-chaos-1"),
                     ("n2e", "email", "R-chaos-2"), ("n2s", "sms", "R-chaos-2"),
                     ("n3e", "email", "R-chaos-3")]  # chaos-3 never got its SMS planned
    delivered = {"email": {"n1e", "n2e", "n3e"}, "sms": {"n1s"}}  # n2s planned, not sent
    counts = event_counts(acknowledged, notifications, delivered, ("email", "sms"))
    assert counts["delivered_on_every_channel"] == 1
    assert counts["missing"] == {"email": 0, "sms": 2}
    assert counts["missing_examples"] == {"sms": ["chaos-2", "chaos-3"]}
