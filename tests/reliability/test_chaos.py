"""The short chaos run in the suite (the full 10,000-event run: ``python -m
tests.reliability.chaos``)."""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.chaos import LOOKUPS_REFUSED_AT_LEAST, run
from tests.reliability.chaos_counts import summary

EVENTS = int(os.environ.get("RETURNHUB_CHAOS_EVENTS", "1000"))


# Runs alone, after the rest of the suite (`make test`'s serial phase): it restarts the
# PostgreSQL server that every other test shares.
pytestmark = pytest.mark.serial


@pytest.mark.postgres
@pytest.mark.slow
async def test_chaos_loses_nothing(tmp_path):
    report = await run(EVENTS, tmp_path, budget=300)
    print(f"\nchaos: {json.dumps(report, indent=1)}\n{summary(report)}")
    assert report["acked"] == EVENTS
    chaos = report["chaos"]
    assert chaos.get("postgres_restarts") == 1
    assert chaos.get("ingress_kills", 0) + chaos.get("worker_kills", 0) >= 3
    assert chaos.get("sms_lookups_down") == 1 and chaos.get("sms_lookups_up") == 1
    # ...and the hub did ask Twilio while its list was down (reconciles met the outage).
    assert report["fakes"]["tw"]["lookups_refused"] >= LOOKUPS_REFUSED_AT_LEAST
    # ...and paged through it: the customers share numbers, 250 texts each.
    assert report["fakes"]["tw"]["later_list_pages"] > 0
    email, sms = report["channels"]["email"], report["channels"]["sms"]
    # The providers did accept messages and then lose the answer, on both channels.
    assert email["answers_lost_at_providers"] > 0 and sms["answers_lost_at_providers"] > 0
    # Every notification that did not end sent is listed, with its attempts and errors.
    assert report["unfinished_count"] == 0, json.dumps(report["unfinished"], indent=1)
    assert report["lost"] == 0 and report["unexpected"] == 0, report["lost_ids"]
    # Per channel: nothing lost, no text twice, an email twice only when the copy before it
    # was accepted and its answer lost (a 503 or reset after accepting, or a killed worker).
    assert (email["lost"], sms["lost"]) == (0, 0)
    assert sms["duplicates"] == 0, sms
    assert email["unexplained_duplicates"] == 0, json.dumps(report["unexplained_duplicates"],
                                                            indent=1)
    # Per event: every acknowledged event reached every channel its stage names.
    assert report["per_event"]["missing"] == {"email": 0, "sms": 0}, report["per_event"]
    assert report["per_event"]["delivered_on_every_channel"] == EVENTS
    assert report["notifications"].get("sent", 0) == 2 * EVENTS
