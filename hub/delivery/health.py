"""Provider health: circuit breakers per provider, their state recorded for every surface."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hub.delivery.breaker import CircuitBreaker
from hub.logs import get_logger
from hub.store.engine import utcnow
from hub.store.models import ProviderHealth

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.assembly import ConnectorSpec

log = get_logger("hub.provider_health")


class ProviderHealthBoard:
    """One breaker per sink instance; each transition is logged and written to
    ``provider_health`` in the background (best effort: the breaker itself is in memory)."""

    def __init__(self, specs: dict[str, ConnectorSpec], sessionmaker: async_sessionmaker,
                 node: str) -> None:
        self.sessionmaker = sessionmaker
        self.node = node
        self.breakers: dict[str, CircuitBreaker] = {}
        self._writes: set[asyncio.Task] = set()
        for name, spec in specs.items():
            if spec.kind != "sinks":
                continue
            policy = spec.policy
            self.breakers[name] = CircuitBreaker(
                name, threshold=policy.breaker_failure_threshold if policy else 5,
                cooldown=policy.breaker_cooldown_seconds if policy else 30.0,
                on_change=self._changed)

    def _changed(self, breaker: CircuitBreaker) -> None:
        log.warning("provider_breaker_changed", provider=breaker.name, state=breaker.state,
                    failures=breaker.failures, error=breaker.last_error)
        try:
            task = asyncio.get_running_loop().create_task(self._write(breaker))
        except RuntimeError:
            return
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, breaker: CircuitBreaker) -> None:
        now = utcnow()
        try:
            async with self.sessionmaker() as session, session.begin():
                opened_at = None
                if breaker.opened_at is not None:
                    # A failed probe re-opens the breaker: the outage still began at the first
                    # opening (alerts measure "open longer than N minutes" from it).
                    prior = await session.get(ProviderHealth, breaker.name)
                    opened_at = (prior.opened_at if prior is not None and prior.state != "closed"
                                 and prior.opened_at is not None else now)
                await session.merge(ProviderHealth(
                    provider=breaker.name, state=breaker.state,
                    consecutive_failures=breaker.failures, last_error=breaker.last_error,
                    opened_at=opened_at, updated_at=now, node=self.node))
        except Exception as exc:
            log.warning("provider_health_write_failed", provider=breaker.name,
                        error=type(exc).__name__)

    def snapshot(self) -> dict[str, dict]:
        """This process's view of every breaker."""
        return {name: {"state": b.state, "consecutive_failures": b.failures,
                       "retry_in_seconds": round(b.retry_in(), 3), "last_error": b.last_error}
                for name, b in self.breakers.items()}

    async def flush(self) -> None:
        """Wait for pending state writes (shut-down)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
