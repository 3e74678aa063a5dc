"""Retry timing: exponential backoff with full jitter, honouring a provider's Retry-After."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1).

    Full jitter (a uniform draw below the exponential bound) spreads retries of many messages
    that failed together; a provider's Retry-After is a floor, never shortened by jitter.
    """
    bound = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0, bound)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
