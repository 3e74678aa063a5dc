"""The short chaos run in the suite (the full 10,000-event run: ``python -m
tests.reliability.chaos``)."""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.chaos import run

EVENTS = int(os.environ.get("RETURNHUB_CHAOS_EVENTS", "1000"))


@pytest.mark.postgres
@pytest.mark.slow
async def test_chaos_loses_nothing(tmp_path):
    report = await run(EVENTS, tmp_path, budget=300)
    print(f"\nchaos: {json.dumps(report, indent=1)}")
    assert report["acked"] == EVENTS
    assert report["chaos"].get("postgres_restarts") == 1
    assert report["chaos"].get("ingress_kills", 0) + report["chaos"].get("worker_kills", 0) >= 3
    # Every notification that did not end sent is listed, with its attempts and errors.
    assert report["unfinished_count"] == 0, json.dumps(report["unfinished"], indent=1)
    assert report["lost"] == 0 and report["unexpected"] == 0, report["lost_ids"]
    assert report["duplicate_texts"] == 0
    assert report["notifications"].get("sent", 0) == 2 * EVENTS
