"""The fault-injection state of a fake provider, and the "accept then lose the answer" mode.

:class:`Faults` holds every knob :class:`~hub.testing.fakes_common.FakeProvider` reads for each
provider request. A lost answer is planned before the request is handled (:func:`plan_loss`);
the plan travels in a context variable so that ``FakeProvider.record`` can mark the record, and
the answer is then replaced by the provider's error or a TCP reset (:func:`reset_connection`).
"""

from __future__ import annotations

import contextvars
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

    from aiohttp import web

#: How an answer is lost after the message was accepted: the provider's error, or a TCP reset.
LOSS_MODES = ("503", "reset")
#: The loss planned for the request being handled (read by ``FakeProvider.record``).
planned_loss: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "planned_loss", default=None)


@dataclass(slots=True)
class Faults:
    """The fault-injection state of one fake; every counter counts provider requests."""

    #: Answer this many next requests with ``fail_status`` instead of handling them.
    fail_count: int = 0
    fail_status: int = 500
    #: Answer this many next requests with the provider's 429.
    rate_limit_count: int = 0
    #: Seconds the 429 tells the client to wait.
    retry_after: float = 1.0
    #: Seconds added before every provider request is handled.
    latency: float = 0.0
    #: Handle this many next requests (the message is recorded) but never answer them;
    #: -1 means every request until the faults are reset.
    silent_count: int = 0
    #: Accept (and record) this many next messages, then lose the answer (``loss_mode``).
    loss_count: int = 0
    #: Accept and then lose the answer of this fraction of the other accepted messages.
    loss_rate: float = 0.0
    #: ``"503"``, ``"reset"`` (the connection is reset) or ``"mixed"`` (either, at random).
    loss_mode: str = "503"
    #: The status a lost answer gets when ``loss_mode`` is ``"503"`` (the mode's name stays).
    loss_status: int = 503
    #: Lookups of sent messages (list, fetch, info) answer ``lookups_status`` while set.
    lookups_down: bool = False
    lookups_status: int = 503


def plan_loss(faults: Faults, rng: random.Random) -> dict[str, Any] | None:
    """Whether the answer to the next request is to be lost, and how: ``{"mode", "recorded",
    "counted"}`` (``mode``: ``"reset"`` or the error status, e.g. ``"503"``; ``counted``: it
    used up one of ``loss_count``), or None."""
    counted = faults.loss_count > 0
    if counted:
        faults.loss_count -= 1
    elif not (faults.loss_rate and rng.random() < faults.loss_rate):
        return None
    mode = faults.loss_mode
    if mode == "mixed":
        mode = rng.choice(LOSS_MODES)
    if mode != "reset":  # the record names the status the sender really got
        mode = str(faults.loss_status)
    return {"mode": mode, "recorded": False, "counted": counted}


def reset_connection(request: web.Request) -> None:
    """Close the request's connection with a TCP reset (SO_LINGER 0), as a dying server does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
