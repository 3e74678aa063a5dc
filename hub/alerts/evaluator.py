"""The alert evaluator: runs every rule, keeps the ``alerts`` table in step, and delivers the
notices owed. One node at a time runs it (a lease in ``job_leases``); its state is the table,
so another node (or this one restarted) takes over where it stopped.

Per rule and subject: a condition that starts holding opens an alert and owes a ``firing``
notice; one still holding after ``renotify_minutes`` since the last notice owes a ``reminder``;
one that stops holding resolves the alert and owes a ``resolved`` notice. A rule whose check
fails changes nothing (its open alerts stay open: no false "resolved").
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from hub.alerts.conditions import CHECKS, Finding
from hub.alerts.notify import notice_of
from hub.logs import get_logger
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.engine import utcnow
from hub.store.models_alerts import Alert, JobLease

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.alerts.notify import Notifier
    from hub.alerts.settings import AlertRule, AlertSettings

log = get_logger("hub.alerts")

#: The ``job_leases`` row of the evaluator.
LEASE_NAME = "alerts"


class AlertEvaluator:
    """Evaluates ``settings.rules`` every ``interval_seconds`` while it holds the lease."""

    def __init__(self, settings: AlertSettings, sessionmaker: async_sessionmaker,
                 notifier: Notifier, owner: str, sources: list[str], public_url: str) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.notifier = notifier
        self.owner = owner
        self.sources = sources
        self.public_url = public_url
        #: Set to evaluate now instead of at the end of the interval.
        self.wake = asyncio.Event()
        # The lease is per node: passes of this node (the loop, a test's or an admin's call)
        # must not overlap, or an owed notice could go out twice.
        self._pass = asyncio.Lock()

    async def run(self) -> None:
        """Evaluate until cancelled; give the lease back on the way out."""
        try:
            while True:
                try:
                    await self.run_once()
                except Exception as exc:
                    log.warning("alerts_evaluation_failed", error=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.interval_seconds)
                self.wake.clear()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release())

    async def run_once(self, now: datetime | None = None) -> bool:
        """One pass (False without the lease): evaluate, then deliver what is owed."""
        async with self._pass:
            now = now or utcnow()
            if not await self._lease(now):
                return False
            await self.evaluate(now)
            await self.deliver(now)
            return True

    async def evaluate(self, now: datetime) -> None:
        """Run every rule and open, refresh or resolve alerts, one transaction per rule."""
        for rule in self.settings.rules:
            try:
                async with self.sessionmaker() as session:
                    findings = await CHECKS[rule.kind](session, rule, now, self.sources)
            except Exception as exc:
                log.warning("alert_rule_failed", rule=rule.name, error=type(exc).__name__)
                continue
            async with self.sessionmaker() as session, session.begin():
                await self._apply(session, rule, findings, now)
        async with self.sessionmaker() as session, session.begin():
            await self._retire(session, now)

    async def _retire(self, session: AsyncSession, now: datetime) -> None:
        """Resolve the open alerts of rules no longer configured (else they stay open)."""
        names = [rule.name for rule in self.settings.rules]
        for alert in (await session.execute(select(Alert).where(
                Alert.status == "open", Alert.rule.not_in(names)))).scalars():
            alert.status, alert.open_key, alert.resolved_at = "resolved", None, now
            alert.summary = f"rule removed: {alert.summary}"[:1000]
            alert.notice, alert.notice_done = "resolved", []
            log.info("alert_resolved", rule=alert.rule, subject=alert.subject, alert=alert.id,
                     why="rule removed")

    async def _apply(self, session: AsyncSession, rule: AlertRule, findings: list[Finding],
                     now: datetime) -> None:
        current = {f.subject: f for f in findings}
        open_alerts = {a.subject: a for a in (await session.execute(
            select(Alert).where(Alert.rule == rule.name, Alert.status == "open")
            .with_for_update())).scalars()}
        renotify = timedelta(minutes=self.settings.renotify_minutes)
        for subject, alert in open_alerts.items():
            finding = current.get(subject)
            if finding is None:
                alert.status, alert.open_key, alert.resolved_at = "resolved", None, now
                alert.summary = f"resolved: {alert.summary}"[:1000]
                alert.notice, alert.notice_done = "resolved", []
                log.info("alert_resolved", rule=rule.name, subject=subject, alert=alert.id)
                continue
            alert.value, alert.summary, alert.last_seen_at = (finding.value, finding.summary,
                                                              now)
            if (alert.notice is None and alert.last_notified_at is not None
                    and now - alert.last_notified_at >= renotify):
                alert.notice, alert.notice_done = "reminder", []
        for subject, finding in current.items():
            if subject in open_alerts:
                continue
            session.add(Alert(rule=rule.name, kind=rule.kind, subject=subject,
                              severity=rule.severity, status="open",
                              open_key=f"{rule.name}|{subject}"[:320], value=finding.value,
                              summary=finding.summary, opened_at=now, last_seen_at=now,
                              notice="firing", notice_done=[], notices_sent=0))
            log.warning("alert_firing", rule=rule.name, subject=subject)

    async def deliver(self, now: datetime) -> None:
        """Send every notice owed; each alert's progress is saved after its own sends."""
        async with self.sessionmaker() as session:
            owed = list((await session.execute(
                select(Alert).where(Alert.notice.is_not(None)).order_by(Alert.id))).scalars())
        for alert in owed:
            notice = notice_of(alert, self.public_url)
            done = set(alert.notice_done or [])
            errors = await self.notifier.deliver(notice, done)
            values: dict = {"notice_done": sorted(done),
                            "notice_error": "; ".join(errors)[:1000] or None}
            if not errors:
                values.update(notice=None, notice_done=[], last_notified_at=now,
                              notices_sent=alert.notices_sent + 1)
                log.info("alert_notified", alert=alert.id, notice=notice.kind)
            else:
                log.warning("alert_notice_failed", alert=alert.id, notice=notice.kind,
                            errors=len(errors))
            async with self.sessionmaker() as session, session.begin():
                # Only if the notice is still the one sent (a resolve may have replaced it).
                await session.execute(update(Alert).where(
                    Alert.id == alert.id, Alert.notice == notice.kind).values(**values))

    async def _lease(self, now: datetime) -> bool:
        lease = timedelta(seconds=max(60.0, self.settings.interval_seconds * 4))
        async with self.sessionmaker() as session, session.begin():
            await session.execute(insert_ignoring_conflicts(
                session, JobLease.__table__, "name").values(name=LEASE_NAME))
            taken = await session.execute(
                update(JobLease).where(
                    JobLease.name == LEASE_NAME,
                    or_(JobLease.lease_until.is_(None), JobLease.lease_until < now,
                        JobLease.lease_owner == self.owner))
                .values(lease_owner=self.owner, lease_until=now + lease)
                .execution_options(synchronize_session=False))
            return bool(taken.rowcount)

    async def _release(self) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(JobLease).where(
                JobLease.name == LEASE_NAME, JobLease.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None))
