"""A hub process settles its garbage collector once started (hub.heap): what start-up built
is frozen out of every later collection, and full collections are spaced out."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
import hub.runtime  # what a hub process imports before it listens
from hub.heap import OLDER_THRESHOLDS, YOUNG_THRESHOLD, settle
before = gc.get_freeze_count()
settle()
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(),
                  "threshold": gc.get_threshold(),
                  "wanted": [YOUNG_THRESHOLD, *OLDER_THRESHOLDS]}))
"""


def test_settle_freezes_start_up_and_spaces_out_full_collections():
    # In a process of its own: freezing the test runner's heap would outlive the test.
    found = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           check=True)
    result = json.loads(found.stdout)
    assert result["before"] == 0
    assert result["frozen"] > 100_000  # the imported hub, out of the collector's way
    assert list(result["threshold"]) == result["wanted"]
    assert result["wanted"][2] > 10  # full collections rarer than Python's default
