"""Outcomes the hub does not know: a provider call that may or may not have handed the message
over (a timeout or a 5xx after the request left, a worker killed after its send intent).

The provider is asked first (``Sink.reconcile``), about the messages it took since the send
intent (:mod:`hub.delivery.intent`). Only "not found" from every provider asked makes a second
send safe. While a provider cannot say (its message list is down), the message stays
``unknown`` and is asked about again with backoff, for up to the channel's
``reconcile_window_seconds`` from the intent; after that, or at once when no provider of the
channel can be asked, an SMS is failed (never sent twice: the stage falls back to its next
channel) and an email is sent again. Providers that deduplicate by message id are simply sent
to again.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta
from typing import TYPE_CHECKING

from hub.connectors import Sink
from hub.delivery.router import RouteResult
from hub.logs import get_logger
from hub.messages import DeliveryStatus
from hub.store.engine import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from hub.config import ChannelSettings, WorkerSettings
    from hub.delivery.router import Announce, Router
    from hub.messages import OutboundMessage
    from hub.store.models import Notification

log = get_logger("hub.reconcile")

#: Statuses that mean the provider has the message.
PROVIDER_HAS_IT = frozenset({DeliveryStatus.ACCEPTED, DeliveryStatus.DEFERRED,
                             DeliveryStatus.DELIVERED, DeliveryStatus.OPENED,
                             DeliveryStatus.CLICKED})


def can_reconcile(sink: Sink) -> bool:
    """Whether the sink can be asked about a message (it implements ``reconcile``)."""
    return type(sink).reconcile is not Sink.reconcile


class Reconciler:
    """Decides what becomes of a notification whose outcome is unknown."""

    def __init__(self, router: Router, settings: WorkerSettings) -> None:
        self.router = router
        self.settings = settings

    def safe_to_resend(self, channel: str, *, promotional: bool = False) -> bool:
        """Whether a message of ``channel`` may go out again without knowing its fate: yes when
        every provider dedupes by message id; for SMS never (no duplicate texts); email yes,
        except a campaign's (``promotional``): once per recipient beats a sure delivery."""
        providers = [self.router.sinks[p] for p in self.router.providers_for(channel)]
        if providers and all(type(p).idempotent for p in providers):
            return True
        return channel != "sms" and not promotional

    def candidates(self, notification: Notification) -> list[str]:
        """The providers that may have the message: the send intent's, else the provider last
        recorded, else (parallel policy, or nothing recorded) every provider of the channel."""
        named = (notification.send_provider if notification.send_started_at is not None
                 else notification.provider)
        return [named] if named else self.router.providers_for(
            notification.channel, getattr(notification, "category", None))

    async def reconcile(self, notification: Notification, message: OutboundMessage,
                        announce: Announce) -> RouteResult:
        """Ask the providers that may have ``message``; send it only when none has it."""
        since = notification.send_started_at or notification.created_at
        message = dataclasses.replace(message, sent_after=since)
        answers: dict[str, DeliveryStatus | None] = {}
        gone: list[str] = []
        for provider in self.candidates(notification):
            sink = self.router.sink_named(provider)
            if sink is None:
                gone.append(provider)  # renamed or removed since: its name may come back
                continue
            if not can_reconcile(sink):
                continue
            known_id = (notification.provider_message_id
                        if provider == notification.provider else None)
            status = None
            try:
                status = await sink.reconcile(message, known_id)
            except Exception as exc:
                log.warning("reconcile_failed", notification_id=notification.id,
                            provider=provider, error=type(exc).__name__)
            if status in PROVIDER_HAS_IT:
                return RouteResult(status="sent", provider=provider, provider_message_id=known_id
                                   or notification.provider_message_id)
            if status is not None and status is not DeliveryStatus.NOT_FOUND:
                return RouteResult(status="failed", provider=provider,
                                   error=f"the provider reports {status.value}")
            answers[provider] = status
        if answers and all(s is DeliveryStatus.NOT_FOUND for s in answers.values()):
            return await self.router.deliver(message, announce=announce)  # never accepted
        if self.safe_to_resend(notification.channel,
                               promotional=bool(getattr(notification, "campaign_id", None))):
            return await self.router.deliver(message, announce=announce)
        return self._undecided(notification, since, asked=bool(answers) or bool(gone),
                               gone=gone)

    def _undecided(self, notification: Notification, since: datetime, *, asked: bool,
                   gone: Sequence[str] = ()) -> RouteResult:
        """No provider could say: ask again later, within the window; then give up sending.
        ``gone``: sinks the message names that the configuration no longer has (found from
        outside: a renamed sink failed its texts at once as "no provider can be asked")."""
        route = self.router.channels.get(notification.channel)
        now = utcnow()
        window_end = since + timedelta(seconds=route.reconcile_window_seconds if route else 0)
        gone_why = (f"sink {', '.join(map(repr, gone))}, which took it, is not configured any "
                    "more (renamed or removed: docs/operations.md, \"Renaming and removing\")")
        if asked and route is not None and now < window_end:
            delay = self.backoff(route, (now - since).total_seconds(),
                                  (window_end - now).total_seconds())
            log.info("reconcile_deferred", notification_id=notification.id,
                     channel=notification.channel, retry_in=round(delay, 3))
            return RouteResult(status="unknown", provider=notification.send_provider,
                               error=(gone_why if gone else "the provider could not say "
                                      "whether it has the message") + "; asking again later",
                               reconcile_in=delay)
        if gone:
            why = gone_why
        elif asked:
            why = "the provider could not say within the reconcile window"
        else:
            why = "no provider of the channel can be asked"
        return RouteResult(status="failed", provider=notification.send_provider
                           or notification.provider,
                           error=f"outcome unknown and {why}; an SMS or a campaign message "
                                 "is never sent twice")

    def backoff(self, route: ChannelSettings, waited: float, left: float) -> float:
        """Wait about as long as already waited (doubling), between the channel's
        ``reconcile_seconds`` and ``worker.retry_max_seconds``, jittered, never past the end of
        the window (the last try is at its end)."""
        floor = route.reconcile_seconds
        delay = min(max(waited, floor), max(self.settings.retry_max_seconds, floor))
        delay = max(floor, delay * random.uniform(0.5, 1.0))  # noqa: S311 - spreading, not secrecy
        return min(delay, left)
