"""The garbage collector of a long-running hub process, settled once the process has started.

Python's cyclic collector runs a young collection every 700 net allocations and a full one
every hundred of those, and a full one walks every tracked object, the hundreds of thousands
that start-up made (modules, SQLAlchemy's and pydantic's tables, compiled templates)
included. Under the benchmark that was 1.4-1.7 s of CPU per 2,000 events in each process
(0.7-0.85 ms an event; the full collections most of it).

So once a process listens: one full collection, then :func:`gc.freeze` moves everything left
into a permanent generation the collector never walks again, and the full collections are
spaced out ten times further: what the batches leave for them is little and young. Measured
(`bench/run.py --events 4000`, the collector's own callbacks timing it): 0.70-0.81 s per
2,000 events, against 0.88-1.06 s with the freeze alone and 0.87-0.92 s with the young
threshold raised to 3,000 as well (larger young collections cost more than they save).

That was while every rendered email left about 120 objects in reference cycles (Jinja's
macros and their contexts; :func:`hub.content.modules.one_message` now breaks them). Since,
the young collections find next to nothing to free (8,000 objects over 3,000 events, against
310,000) and only walk, again and again, what the requests and batches in flight hold: 0.21 s
in young and 0.15 s in middle collections per 3,000 events in each process. So they are spaced
out too: a young collection every 20,000 net allocations and a middle one every 20 young ones.
Same-run A/B (`bench/run.py --events 6000 --repeat 3 --no-floor`): hub CPU an event 2.03 ms on
average with Python's thresholds, 1.92 with 5,000 and 1.90 with 20,000; peak RSS unchanged.
"""

from __future__ import annotations

import gc

#: Net allocations between two young collections (Python's default: 700).
YOUNG_THRESHOLD = 20_000
#: Young collections between two middle ones (default 10), and middle ones between two full
#: ones (ten times the default).
OLDER_THRESHOLDS = (20, 100)


def settle() -> None:
    """Collect, freeze what start-up built, and space the full collections out (module
    docstring). Called once per process, after start-up and before the first request."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
