"""Routing one message through a channel's providers, with failover.

The error class a sink raises decides what happens next (see :mod:`hub.errors`): a transient
failure or a misconfigured provider moves on to the next provider; a refused recipient or a
rejected message stops the chain (no provider could succeed); an unknown outcome stops it too,
because the first provider may have sent the message and a second send would be a duplicate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from hub.errors import (
    DeliveryError,
    OutcomeUnknown,
    PermanentError,
    ProviderMisconfigured,
    RateLimited,
    RecipientRefused,
)
from hub.store.engine import utcnow

if TYPE_CHECKING:
    from hub.config import ChannelSettings
    from hub.connectors import Sink
    from hub.messages import OutboundMessage


@dataclass(slots=True)
class AttemptRecord:
    """One provider call, for the attempt log."""

    provider: str
    outcome: str
    started_at: datetime
    duration_ms: float
    provider_message_id: str | None = None
    error: str | None = None


@dataclass(slots=True)
class RouteResult:
    """How a message fared across its channel's providers.

    ``status``: ``sent``, ``retry`` (every provider failed transiently), ``failed`` (permanent),
    or ``unknown`` (a provider may have sent it).
    """

    status: str
    provider: str | None = None
    provider_message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, ProviderMisconfigured):
        return "misconfigured"
    if isinstance(exc, RecipientRefused):
        return "refused"
    if isinstance(exc, PermanentError):
        return "permanent"
    if isinstance(exc, OutcomeUnknown):
        return "unknown"
    return "transient"


class FailoverRouter:
    """Sends through ``providers`` in order until one accepts (see the module docstring)."""

    def __init__(self, sinks: dict[str, Sink], channels: dict[str, ChannelSettings], *,
                 timeout: float, public_url: str) -> None:
        self.sinks = sinks
        self.channels = channels
        self.timeout = timeout
        self.public_url = public_url.rstrip("/")

    def providers_for(self, channel: str) -> list[str]:
        """The provider names of a channel, in order."""
        route = self.channels.get(channel)
        return list(route.providers) if route else []

    async def deliver(self, message: OutboundMessage) -> RouteResult:
        """Deliver ``message`` on its channel."""
        providers = self.providers_for(message.channel)
        if not providers:
            return RouteResult(status="failed", error=f"no providers for channel {message.channel!r}")
        result = RouteResult(status="retry")
        for provider in providers:
            sink = self.sinks[provider]
            attempt_message = dataclasses.replace(
                message, status_callback_url=(
                    f"{self.public_url}/webhooks/{provider}?mid={message.message_id}"
                    if sink.accepts_webhooks else None))
            started, clock = utcnow(), time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    sent = await sink.send(attempt_message)
            except DeliveryError as exc:
                error, outcome = str(exc) or type(exc).__name__, _outcome_of(exc)
                if not exc.provider:
                    error = f"[{provider}] {error}"
            except TimeoutError:
                error, outcome = f"[{provider}] no answer within {self.timeout:g}s", "unknown"
                exc = OutcomeUnknown(error)
            except Exception as unexpected:  # a sink bug: it may or may not have sent
                error = f"[{provider}] {type(unexpected).__name__} in sink"
                outcome, exc = "unknown", OutcomeUnknown(error)
            else:
                result.attempts.append(AttemptRecord(
                    provider, "accepted", started, (time.perf_counter() - clock) * 1000,
                    provider_message_id=sent.provider_message_id))
                result.status, result.provider = "sent", provider
                result.provider_message_id = sent.provider_message_id
                result.error = None
                return result
            result.attempts.append(AttemptRecord(
                provider, outcome, started, (time.perf_counter() - clock) * 1000, error=error))
            result.error, result.provider = error, provider
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                result.retry_after = max(result.retry_after or 0, exc.retry_after)
            if outcome == "unknown":
                result.status = "unknown"
                return result
            if not exc.failover:
                result.status = "failed"
                return result
        return result
