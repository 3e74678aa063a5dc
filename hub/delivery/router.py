"""Routing one message through a channel's providers: failover, parallel or weighted.

The error class a sink raises decides what happens next (see :mod:`hub.errors`): a transient
failure or a misconfigured provider moves on to the next provider; a refused recipient or a
rejected message stops the chain (no provider could succeed); an unknown outcome stops it too,
because the first provider may have sent the message and a second send could be a duplicate.
Providers whose circuit breaker is open are skipped without waiting for their timeouts.

With ``announce`` (the dispatcher's :class:`hub.delivery.intent.IntentRecorder`), a send
intent is committed right before each provider call, after the provider's rate limit let it
through; a call whose intent cannot be recorded (its worker's lease is gone: it ran out, or a
merge called the message off) does not start. Sinks that deduplicate by message id get one
too: what it guards against there is a message called off, not a second call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from hub.delivery.breaker import CircuitBreaker
from hub.domain.outcome import RATE_LIMITED
from hub.errors import (
    DeliveryError,
    OutcomeUnknown,
    PermanentError,
    ProviderMisconfigured,
    RateLimited,
    RecipientRefused,
)
from hub.logs import get_logger
from hub.messages import SendResult
from hub.store.engine import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from hub.config import ChannelSettings
    from hub.connectors import Sink
    from hub.delivery.ratelimit import TokenBucket
    from hub.messages import OutboundMessage

    #: Records that the call for (message id, provider or None: every one) starts; False or
    #: an exception: it must not start.
    Announce = Callable[[str, str | None], Awaitable[bool]]

log = get_logger("hub.router")


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

    ``status``: ``sent``, ``retry`` (every provider failed transiently or was skipped),
    ``failed`` (permanent), or ``unknown`` (a provider may have sent it).
    ``counts_as_attempt``: a try that failed before any provider was called still counts
    towards ``worker.max_attempts`` (a render over its time limit).
    ``reconcile_in``: for ``unknown``, seconds until the provider is asked (None: the
    channel's ``reconcile_seconds``).
    """

    status: str
    provider: str | None = None
    provider_message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    counts_as_attempt: bool = False
    reconcile_in: float | None = None
    #: The send intent was refused: the row is another delivery's now, which writes its
    #: outcome (this one writes none).
    lease_lost: bool = False

    @property
    def tried(self) -> list[str]:
        """Providers called, in order."""
        return [a.provider for a in self.attempts]


class _NotStarted(Exception):
    """The send intent could not be recorded, so the provider call did not start. ``taken``:
    the row is no longer this delivery's (another delivery holds it, or started a call)."""

    def __init__(self, message: str, *, taken: bool = False) -> None:
        super().__init__(message)
        self.taken = taken


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, RateLimited):
        return RATE_LIMITED
    if isinstance(exc, ProviderMisconfigured):
        return "misconfigured"
    if isinstance(exc, RecipientRefused):
        return "refused"
    if isinstance(exc, PermanentError):
        return "permanent"
    if isinstance(exc, OutcomeUnknown):
        return "unknown"
    return "transient"


def weighted_order(providers: list[str], weights: list[float], key: str) -> list[str]:
    """``providers`` with one picked by weight first; stable for the same ``key`` (a message
    id), so a retry prefers the same provider."""
    digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
    point = (digest / 2**64) * sum(weights)
    index = len(providers) - 1  # rounding can leave the point at the very end
    for position, weight in enumerate(weights):
        if point < weight:
            index = position
            break
        point -= weight
    return [providers[index], *providers[:index], *providers[index + 1:]]


class Router:
    """Delivers messages on their channel, by the channel's policy."""

    def __init__(self, sinks: dict[str, Sink], channels: dict[str, ChannelSettings], *,
                 timeout: float, public_url: str, breakers: dict[str, CircuitBreaker],
                 buckets: dict[str, TokenBucket] | None = None,
                 clock: Callable[[], float] = time.perf_counter,
                 former_names: dict[str, str] | None = None) -> None:
        self.sinks = sinks
        #: A renamed sink's former names -> its name now: stored rows keep the old ones.
        self.former_names = former_names or {}
        self.channels = channels
        self.timeout = timeout
        self.public_url = public_url.rstrip("/")
        self.breakers = breakers
        self.buckets = buckets or {}
        self._clock = clock

    def sink_named(self, name: str) -> Sink | None:
        """The sink called ``name`` now, or once (``formerly``), if any."""
        return self.sinks.get(name) or self.sinks.get(self.former_names.get(name, ""))

    def now_named(self, names: Iterable[str]) -> frozenset[str]:
        """``names`` (stored on a message) as the sinks are called now."""
        return frozenset(self.former_names.get(name, name) for name in names)

    def providers_for(self, channel: str, category: str | None = None) -> list[str]:
        """The provider names of a channel (for a category, when it has its own), in order."""
        route = self.channels.get(channel)
        if route is None:
            return []
        return list(((route.categories.get(category) if category else None) or route).providers)

    async def deliver(self, message: OutboundMessage, *, exclude: frozenset[str] = frozenset(),
                      announce: Announce | None = None) -> RouteResult:
        """Deliver ``message``; providers in ``exclude`` are not used (already tried);
        ``announce`` records each call's intent before it starts (module docstring)."""
        channel = self.channels.get(message.channel)
        if channel is None:
            return RouteResult(status="failed",
                               error=f"no providers for channel {message.channel!r}")
        # A category with its own route (promotional via Mandrill) replaces the provider list.
        route = channel.categories.get(message.category) or channel
        exclude = self.now_named(exclude)  # a message tried before a rename names old ones
        providers = [p for p in route.providers if p not in exclude]
        if route.policy == "weighted" and providers:
            weights = [w for p, w in zip(route.providers, route.weights, strict=True)
                       if p not in exclude]
            providers = weighted_order(providers, weights, message.message_id)
        if not providers:
            return RouteResult(status="failed", error="every provider of the channel was tried")
        try:
            if route.policy == "parallel":
                return await self._parallel(message, providers, announce)
            return await self._failover(message, providers, announce)
        except _NotStarted as reason:
            return RouteResult(status="retry", error=str(reason), lease_lost=reason.taken)

    async def _failover(self, message: OutboundMessage, providers: list[str],
                        announce: Announce | None) -> RouteResult:
        result = RouteResult(status="retry")
        skipped_for: list[float] = []
        for provider in providers:
            breaker = self.breakers.get(provider)
            if breaker is not None and not breaker.allow():
                skipped_for.append(breaker.retry_in())
                continue
            try:
                record, exc = await self._send_one(provider, message, announce)
            except _NotStarted as reason:  # keep the attempts made so far
                result.status, result.error = "retry", str(reason)
                result.lease_lost = reason.taken
                return result
            result.attempts.append(record)
            if exc is None:
                result.status, result.provider = "sent", provider
                result.provider_message_id, result.error = record.provider_message_id, None
                return result
            result.error, result.provider = record.error, provider
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                result.retry_after = max(result.retry_after or 0, exc.retry_after)
            if record.outcome == "unknown":
                result.status = "unknown"
                return result
            if not exc.failover:
                result.status = "failed"
                return result
        if not result.attempts and skipped_for:
            result.error = "every provider's circuit breaker is open"
            result.retry_after = min(skipped_for)
        return result

    async def _parallel(self, message: OutboundMessage, providers: list[str],
                        announce: Announce | None) -> RouteResult:
        allowed = [p for p in providers
                   if self.breakers.get(p) is None or self.breakers[p].allow()]
        if not allowed:
            return RouteResult(status="retry", error="every provider's circuit breaker is open",
                               retry_after=min(self.breakers[p].retry_in() for p in providers))
        if announce is not None:
            await _announce(announce, message.message_id, None)  # one intent: all of them
        sent = await asyncio.gather(*(self._send_one(p, message, None) for p in allowed))
        result = RouteResult(status="retry", attempts=[record for record, _ in sent])
        accepted = [record for record, exc in sent if exc is None]
        if accepted:
            result.status, result.provider = "sent", accepted[0].provider
            result.provider_message_id = accepted[0].provider_message_id
            return result
        errors = [exc for _, exc in sent]
        result.error = "; ".join(r.error or "" for r, _ in sent)[:500]
        if any(r.outcome == "unknown" for r, _ in sent):
            result.status = "unknown"
        elif all(not e.failover for e in errors):
            result.status = "failed"
        return result

    async def _send_one(self, provider: str, message: OutboundMessage,
                        announce: Announce | None) -> tuple[AttemptRecord, DeliveryError | None]:
        sink = self.sinks[provider]
        attempt_message = dataclasses.replace(message, status_callback_url=(
            f"{self.public_url}/webhooks/{provider}?mid={message.message_id}"
            if sink.accepts_webhooks else None))
        bucket = self.buckets.get(provider)
        if bucket is not None:
            await bucket.acquire()
        if announce is not None:
            await _announce(announce, message.message_id, provider)
        started, clock = utcnow(), self._clock()
        exc: DeliveryError | None = None
        sent = None
        try:
            async with asyncio.timeout(self.timeout):
                sent = await sink.send(attempt_message)
        except DeliveryError as error:
            exc = error
        except TimeoutError:
            exc = OutcomeUnknown(f"no answer within {self.timeout:g}s", provider=provider)
        except Exception as unexpected:  # a sink bug: it may or may not have sent
            exc = OutcomeUnknown(f"{type(unexpected).__name__} in sink", provider=provider)
            # The class and the sink's line, never the text: it may quote the message.
            log.error("sink_crashed", provider=provider, error=type(unexpected).__name__,
                      where=_where(unexpected, sink), message_id=message.message_id)
        else:
            if not isinstance(sent, SendResult):  # a sink bug after the call: it may have sent
                exc = OutcomeUnknown(f"send returned {type(sent).__name__}, not a SendResult",
                                     provider=provider)
                log.error("sink_crashed", provider=provider, error="BadReturnValue",
                          returned=type(sent).__name__, message_id=message.message_id)
        elapsed = (self._clock() - clock) * 1000
        self._observe(provider, exc)
        if exc is None:
            return AttemptRecord(provider, "accepted", started, elapsed,
                                 provider_message_id=sent.provider_message_id), None
        text = str(exc) or type(exc).__name__
        if not exc.provider:
            text = f"[{provider}] {text}"
        return AttemptRecord(provider, _outcome_of(exc), started, elapsed, error=text[:500]), exc

    def _observe(self, provider: str, exc: DeliveryError | None) -> None:
        breaker = self.breakers.get(provider)
        if breaker is None:
            return
        if exc is None or isinstance(exc, (RecipientRefused, PermanentError)) and \
                not isinstance(exc, ProviderMisconfigured):
            breaker.record_success()  # it answered; the message or recipient was the problem
        elif isinstance(exc, RateLimited):
            breaker.record_no_verdict()  # busy, not broken
        else:
            breaker.record_failure(str(exc), force_open=isinstance(exc, ProviderMisconfigured))


async def _announce(announce: Announce, message_id: str, provider: str | None) -> None:
    """Record the send intent, or raise :class:`_NotStarted`."""
    try:
        recorded = await announce(message_id, provider)
    except Exception as exc:  # the database is unavailable: better not sent than uncertain
        raise _NotStarted(f"the send intent could not be recorded ({type(exc).__name__}); "
                          "not sent") from None
    if not recorded:
        raise _NotStarted("the row was taken over before the send started; not sent",
                          taken=True)


def _where(exc: BaseException, sink: object) -> str:
    """``file:line`` of the innermost frame of the sink's own module the exception passed
    through (else the innermost frame: a library the sink called)."""
    module = sys.modules.get(type(sink).__module__)
    own = getattr(module, "__file__", None)
    found, tb = None, exc.__traceback__
    while tb is not None:
        if found is None or tb.tb_frame.f_code.co_filename == own or \
                found.tb_frame.f_code.co_filename != own:
            found = tb
        tb = tb.tb_next
    if found is None:
        return "?"
    return "/".join(found.tb_frame.f_code.co_filename.rsplit("/", 2)[-2:]) + \
        f":{found.tb_lineno}"
