"""A render over its time limit because the worker was starved of CPU (the chaos run's dead
letter: a busy 2-core machine, a garbage collection preempted mid-render) must not cost a
message: time the rendering thread did not run does not count, and a render that still times
out is retried like a transient failure, counted towards ``worker.max_attempts``."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from hub.content.limits import RenderLimits
from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.templates import TemplateRenderer, TemplateRenderError
from tests.content.test_sandbox import stopped
from tests.delivery.test_policies import event, started


def test_time_the_render_did_not_run_does_not_count(tmp_path):
    """Pauses that use no CPU (the process not scheduled) past a 0.3 s budget: every call
    checks the clock, so the second one would see the first pause."""
    (tmp_path / "approved").mkdir()
    (tmp_path / "approved" / "sms.txt.j2").write_text("{{ pause() }}{{ pause() }}done")
    renderer = TemplateRenderer(operator_dir=tmp_path, limits=RenderLimits(max_seconds=0.3))
    started_at = time.monotonic()
    text = renderer.render("approved", "sms", {"pause": lambda: time.sleep(0.4) or ""}).text
    assert text == "done" and time.monotonic() - started_at >= 0.8


def test_a_template_that_computes_too_long_still_stops(tmp_path):
    error, _ = stopped(tmp_path, "{% for i in range(10000) %}{% for j in range(10000) %}"
                                 "{% endfor %}{% endfor %}x", limits=RenderLimits(max_seconds=0.3))
    assert error.error == "RenderTimeout"


async def _settle(hub) -> list[Notification]:
    """Drain until no notification is pending or sending (retries come after short backoffs)."""
    for _ in range(100):
        await hub.drain()
        async with hub.sessionmaker() as session:
            rows = list((await session.execute(select(Notification))).scalars())
        if rows and all(r.status not in ("pending", "sending") for r in rows):
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"still unfinished: {[(r.channel, r.status) for r in rows]}")


async def test_a_render_timeout_is_retried_not_a_dead_letter(tmp_path, monkeypatch):
    hub = await started(tmp_path)
    render = hub.renderer.render
    timeouts = []

    def starved_once(template, channel, context, **kwargs):
        if channel == "email" and not timeouts:
            timeouts.append(template)
            raise TemplateRenderError(
                "approved/email.subject.j2: RenderTimeout: render time limit (1 s) exceeded "
                "(line 1)", template="approved/email.subject.j2", error="RenderTimeout")
        return render(template, channel, context, **kwargs)

    monkeypatch.setattr(hub.renderer, "render", starved_once)
    try:
        await hub.inbox.submit([event("R-starved")], utcnow())
        rows = await _settle(hub)
    finally:
        await hub.stop()
    email = next(r for r in rows if r.channel == "email")
    assert timeouts == ["approved"]
    assert email.status == "sent", email.last_error
    assert email.attempts == 2  # the render that timed out counted as a try


async def test_a_template_always_over_the_limit_dies_after_max_attempts(tmp_path, monkeypatch):
    hub = await started(tmp_path, worker={"max_attempts": 3})

    def always_slow(template, channel, context, **kwargs):
        raise TemplateRenderError("approved/email.html.j2: RenderTimeout: render time limit "
                                  "(1 s) exceeded", template="approved/email.html.j2",
                                  error="RenderTimeout")

    monkeypatch.setattr(hub.renderer, "render", always_slow)
    try:
        await hub.inbox.submit([event("R-slow")], utcnow())
        rows = await _settle(hub)
    finally:
        await hub.stop()
    assert {r.channel: (r.status, r.attempts) for r in rows} == {
        "email": ("dead", 3), "sms": ("dead", 3)}
    assert all("RenderTimeout" in r.last_error for r in rows)
