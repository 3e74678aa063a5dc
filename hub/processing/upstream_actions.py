"""Carrying out rule actions outside the hub: approve or decline upstream through the source's
``act`` (Shopify's Admin API), and help-desk webhooks. Each action is a ``rule_actions`` row,
claimed with a lease and retried with backoff; one that keeps failing is marked ``failed``,
logged and put on the return's timeline, never dropped."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy import and_, or_, select, update

from hub.connectors import Source
from hub.domain.retry import backoff_delay
from hub.errors import PermanentError, TransientError
from hub.events import EventType, ReturnEvent
from hub.logs import get_logger
from hub.store.claims import ReadyProbe, claim
from hub.store.engine import utcnow
from hub.store.failures import safe_error
from hub.store.models import Return, RuleAction, TimelineEntry

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.config import WorkerSettings

log = get_logger("hub.rule_actions")

_ACTION_EVENT = {"approve": EventType.APPROVED, "decline": EventType.DECLINED}


def _ready(now: Any) -> ColumnElement[bool]:
    """The actions a claim at ``now`` may take (a datetime, or the probe's parameter)."""
    return and_(RuleAction.status == "pending", RuleAction.next_attempt_at <= now,
                or_(RuleAction.lease_until.is_(None), RuleAction.lease_until < now))


class _CannotAct(Exception):
    """The return's source does not implement :meth:`~hub.connectors.Source.act`."""


class ActionRunner:
    """Claims pending rule actions and carries them out."""

    def __init__(self, sessionmaker: async_sessionmaker, sources: dict[str, Source],
                 http: aiohttp.ClientSession | None, settings: WorkerSettings, owner: str) -> None:
        self.sessionmaker = sessionmaker
        self._probe = ReadyProbe(sessionmaker, RuleAction.__table__, _ready)
        self.sources = sources
        self.http = http
        self.settings = settings
        self.owner = owner

    async def run(self) -> None:
        """Carry out actions until cancelled."""
        while True:
            try:
                done = await self.run_once()
            except Exception as exc:  # database outage: keep the loop alive
                log.error("rule_actions_failed", error=safe_error(exc))
                done = 0
            if not done:
                await asyncio.sleep(self.settings.idle_poll_seconds)

    async def run_once(self) -> int:
        """One batch; returns how many actions were claimed."""
        now = utcnow()
        ready = _ready(now)
        if not await self._probe(now):
            return 0
        async with self.sessionmaker() as session, session.begin():
            ids = await claim(session, RuleAction, ready=ready, order_by=RuleAction.id,
                              limit=20, owner=self.owner,
                              lease_seconds=self.settings.lease_seconds, now=now)
            rows = list((await session.execute(
                select(RuleAction, Return).join(Return, Return.id == RuleAction.return_id)
                .where(RuleAction.id.in_(ids)))).all()) if ids else []
        await asyncio.gather(*(self._carry_out(action, ret) for action, ret in rows))
        return len(rows)

    async def _carry_out(self, action: RuleAction, ret: Return) -> None:
        try:
            detail = await self._perform(action, ret)
        except _CannotAct as exc:  # nothing failed: the platform has no such call
            await self._finish(action, ret, "skipped", str(exc))
            return
        except (PermanentError, NotImplementedError) as exc:
            await self._finish(action, ret, "failed", safe_error(exc))
            return
        except Exception as exc:  # transient, or unexpected: retried with backoff
            attempts = action.attempts + 1
            error = safe_error(exc)
            if attempts >= self.settings.max_attempts:
                await self._finish(action, ret, "failed", error, attempts=attempts)
                return
            delay = backoff_delay(attempts, base=self.settings.retry_base_seconds,
                                  cap=self.settings.retry_max_seconds,
                                  retry_after=getattr(exc, "retry_after", None))
            log.warning("rule_action_retried", action=action.action, rule=action.rule,
                        attempts=attempts, error=error[:200])
            async with self.sessionmaker() as session, session.begin():
                await session.execute(update(RuleAction).where(RuleAction.id == action.id).values(
                    attempts=attempts, last_error=error, lease_owner=None, lease_until=None,
                    next_attempt_at=utcnow() + timedelta(seconds=delay))
                    .execution_options(synchronize_session=False))
            return
        await self._finish(action, ret, "done", None, detail=detail)

    async def _perform(self, action: RuleAction, ret: Return) -> dict[str, Any]:
        if action.action == "webhook":
            return await self._post_webhook(action, ret)
        source = self.sources.get(ret.source)
        if source is None:
            raise PermanentError(f"the source {ret.source!r} is not configured")
        if type(source).act is Source.act:
            raise _CannotAct(f"the {source.type} source does not act upstream: "
                             f"{action.action} applies here only")
        event = ReturnEvent(type=_ACTION_EVENT[action.action], return_id=ret.external_id,
                            order_id=ret.order_ref, order_number=ret.order_number,
                            source=ret.source, source_event_id=f"rule-action-{action.id}")
        return await source.act(action.action, event, **action.params) or {}

    async def _post_webhook(self, action: RuleAction, ret: Return) -> dict[str, Any]:
        if self.http is None:
            raise TransientError("no HTTP session yet")
        payload = {"event": "returnhub.review_requested", "rule": action.rule,
                   "return": ret.external_id, "source": ret.source, "state": ret.state,
                   "order_number": ret.order_number, "reason": ret.reason}
        try:
            async with self.http.post(action.params["url"], json=payload, allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=10)) as response:
                if response.status >= 500 or response.status == 429:
                    raise TransientError(f"the help desk answered {response.status}")
                if response.status >= 300:
                    raise PermanentError(f"the help desk answered {response.status}")
                return {"status": response.status}
        except aiohttp.ClientError as exc:
            raise TransientError(f"cannot reach the help desk ({type(exc).__name__})") from None

    async def _finish(self, action: RuleAction, ret: Return, status: str, error: str | None, *,
                      attempts: int | None = None, detail: dict | None = None) -> None:
        now = utcnow()
        if status == "failed":
            log.error("rule_action_failed", action=action.action, rule=action.rule,
                      return_id=ret.id, error=error)
        elif status == "skipped":
            log.info("rule_action_skipped", action=action.action, rule=action.rule,
                     return_id=ret.id, reason=error)
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(RuleAction).where(RuleAction.id == action.id).values(
                status=status, last_error=error, lease_owner=None, lease_until=None,
                attempts=attempts if attempts is not None else action.attempts + 1,
                done_at=now).execution_options(synchronize_session=False))
            session.add(TimelineEntry(
                return_id=ret.id, kind="rule", outcome=f"upstream_{status}",
                detail={"rule": action.rule, "action": action.action,
                        **({"error": error} if error else {}),
                        **({"result": {k: str(v)[:100] for k, v in detail.items()}}
                           if detail else {})},
                occurred_at=now, recorded_at=now))
