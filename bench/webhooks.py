"""The request set: N normalized events, each its own return and customer, signed with
Standard Webhooks exactly as a platform would sign them.

Bodies and ids are fixed for a run (so the floor and the hub get the same requests); the
signatures are made fresh right before each measurement, because the hub refuses timestamps
older than its tolerance (300 s by default).
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from hub.testing.factories import customer, event_payload
from returnhub_webhooks.signing import decode_secret, signature

#: The event type every request carries; the bench config notifies stage "approved" by email
#: only, so each event yields exactly one email.
EVENT_TYPE = "return.approved"


def new_secret() -> str:
    """A random Standard Webhooks secret for one run."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True, slots=True)
class EventSet:
    """N unsigned events of one run. Event ``i`` has webhook id ``ids[i]`` and return id
    ``return_ids[i]``; both are unique, so every event is new to the hub."""

    run_id: str
    ids: list[str]
    return_ids: list[str]
    bodies: list[bytes]

    @classmethod
    def build(cls, count: int, run_id: str | None = None) -> EventSet:
        """``count`` events with ids derived from ``run_id`` (random when None)."""
        run_id = run_id or secrets.token_hex(4)
        ids, return_ids, bodies = [], [], []
        for index in range(count):
            return_id = f"R-{run_id}-{index}"
            payload = event_payload(EVENT_TYPE, return_id, minutes=0,
                                    customer=customer(index + 1), order_number=f"#{index + 1}")
            ids.append(f"evt_{run_id}_{index}")
            return_ids.append(return_id)
            bodies.append(orjson.dumps(payload))
        return cls(run_id, ids, return_ids, bodies)

    def __len__(self) -> int:
        return len(self.ids)

    def index_of_return(self) -> dict[str, int]:
        """Return id → event index."""
        return {return_id: index for index, return_id in enumerate(self.return_ids)}

    def index_of_id(self) -> dict[str, int]:
        """Webhook id → event index."""
        return {event_id: index for index, event_id in enumerate(self.ids)}

    def write_signed(self, path: Path, secret: str) -> Path:
        """Sign every event now and write the file the wrk script replays: one line per
        request, ``id TAB timestamp TAB signature TAB body`` (JSON bodies hold no raw tab or
        newline)."""
        key = decode_secret(secret)
        timestamp = str(int(time.time()))
        with path.open("wb") as handle:
            for event_id, body in zip(self.ids, self.bodies, strict=True):
                sig = signature(key, event_id, timestamp, body)
                handle.write(f"{event_id}\t{timestamp}\t{sig}\t".encode() + body + b"\n")
        return path
