"""``POST /webhooks/{connector}``: verify, parse, store durably, then answer.

A source's webhook goes to the inbox (group commit) and is answered 202 once durable, 200 for
a duplicate delivery. A sink's status webhook is recorded as receipts. Bad input never becomes
a 500 and a rejected request writes nothing.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import CIMultiDict

from hub.connectors import InboundRequest, Source
from hub.errors import RequestRejected, SignatureError
from hub.logs import get_logger
from hub.store.engine import utcnow
from hub.web.body import FORM_TYPE, BadForm, BodyTooLarge, parse_form, read_body
from hub.web.keys import HUB
from hub.web.metrics import COUNTS, metrics_of

if TYPE_CHECKING:
    from hub.connectors import Sink
    from hub.runtime import Hub
    from hub.web.metrics import HubMetrics

log = get_logger("hub.ingress")

async def read_inbound(request: web.Request, hub: Hub, *, status: bool = False
                       ) -> InboundRequest:
    """Read the whole body (bounded by ``server.max_body_bytes``, or for a provider's status
    webhook ``server.max_status_body_bytes``; :class:`BodyTooLarge` beyond it) into a
    framework-neutral :class:`InboundRequest`."""
    server = hub.settings.server
    body = await read_body(request, server.max_status_body_bytes if status
                           else server.max_body_bytes)
    form = None
    if request.content_type == FORM_TYPE:
        try:
            form = dict(parse_form(body))
        except BadForm as exc:
            raise RequestRejected(str(exc), status=400) from None
    return InboundRequest(
        method=request.method, url=hub.public_url + request.path_qs, path=request.path,
        headers=CIMultiDict(request.headers), query=dict(request.query), body=body,
        received_at=utcnow(), remote=request.remote, form=form)


async def webhook(request: web.Request) -> web.Response:
    """Handle one webhook delivery."""
    from hub.web.errors import body_too_large, error_response

    hub: Hub = request.app[HUB]
    metrics = metrics_of(request.app)
    name = request.match_info["connector"]
    connector = hub.sources.get(name) or hub.sink_named(name)
    if connector is None or not connector.accepts_webhooks:
        if metrics:
            metrics.rejected("unknown", "unknown_connector")
        return error_response(404, "unknown_connector", f"no webhook connector named {name!r}")
    refusal = _refuse_early(request, hub, name, connector)
    if refusal is not None:
        if metrics:
            metrics.rejected(name, refusal[1])
        return error_response(refusal[0], refusal[1], refusal[2], headers=refusal[3])
    try:
        inbound = await read_inbound(request, hub, status=not isinstance(connector, Source))
        if isinstance(connector, Source):
            response = await _source_webhook(hub, connector, inbound)
        else:
            response = await _status_webhook(hub, connector, inbound)
    except SignatureError as exc:
        log.info("webhook_rejected", connector=name, reason="signature", detail=str(exc)[:200])
        if metrics:
            metrics.rejected(name, "signature")
        return error_response(401, SignatureError.code, str(exc) or "invalid signature")
    except RequestRejected as exc:
        log.info("webhook_rejected", connector=name, reason=exc.code, field=exc.field)
        if metrics:
            metrics.rejected(name, exc.code)
        return error_response(exc.status, exc.code, exc.message, field=exc.field)
    except BodyTooLarge as exc:
        if metrics:
            metrics.rejected(name, "body_too_large")
        return body_too_large(exc)
    if metrics:
        _count(metrics, name, connector, response)
    return response


def _refuse_early(request: web.Request, hub: Hub, name: str, connector: Source | Sink
                  ) -> tuple[int, str, str, dict[str, str] | None] | None:
    """A 429 when the source is over its rate limit, a 415 for a content type its platform
    never sends; None to go on. Nothing is read or stored for a refused request."""
    bucket = hub.ingress_buckets.get(name)
    if bucket is not None:
        wait = bucket.try_take()
        if wait:
            return (429, "rate_limited", f"too many webhooks for {name!r}; retry later",
                    {"Retry-After": str(max(1, math.ceil(wait)))})
    allowed = type(connector).webhook_content_types
    if allowed is not None and request.content_type not in allowed:
        return (415, "unsupported_media_type",
                f"content type must be {' or '.join(sorted(allowed))}", None)
    return None


def _count(metrics: HubMetrics, name: str, connector: Source | Sink,
           response: web.Response) -> None:
    """Count a handled delivery: stored events, receipts, or a 503 the platform retries."""
    if response.status == 503:
        metrics.rejected(name, "unavailable")
        return
    counts = response.get(COUNTS) or (0, 0)
    if isinstance(connector, Source):
        metrics.received(name, *counts)
    elif counts[0]:
        metrics.receipts_received.labels(name).inc(counts[0])


async def _source_webhook(hub: Hub, source: Source, inbound: InboundRequest) -> web.Response:
    await source.verify(inbound)
    events = await source.parse(inbound)
    for event in events:
        event.source = source.name
        if not event.source_event_id:
            raise RuntimeError(f"source {source.name!r} produced an event without an id")
    # Only the wait ends there: the group commit goes on, and an event it commits after the
    # 503 is found by the platform's retry (200, duplicate).
    deadline = asyncio.timeout(hub.settings.server.store_wait_seconds)
    try:
        async with deadline:
            flags = await hub.inbox.submit(events, inbound.received_at)
    except RequestRejected:
        raise  # the store cannot hold it: a 422, which the platform must not retry
    except Exception as exc:
        # Not stored, so not acknowledged: the platform will retry.
        if deadline.expired():  # not the driver's own timeout, which is a failure
            log.error("inbox_submit_slow", connector=source.name,
                      waited=hub.settings.server.store_wait_seconds,
                      message="not stored in time; answered 503 so that the sender retries")
        else:
            _log_not_stored("inbox_submit_failed", source.name, exc)
        return _unavailable()
    new = sum(flags)
    status = 202 if new else 200
    outcome = "accepted" if new else ("duplicate" if events else "ignored")
    response = web.json_response({"status": outcome, "events": len(events), "new": new},
                                 status=status)
    response[COUNTS] = (new, len(events) - new)  # for the metrics
    return response


async def _status_webhook(hub: Hub, sink: Sink, inbound: InboundRequest) -> web.Response:
    await sink.verify_status(inbound)
    updates = await sink.parse_status(inbound)
    channel = next(iter(sorted(type(sink).channels)))
    try:
        async with hub.sessionmaker() as session, session.begin():
            new = await hub.receipts.record(session, sink.name, channel, updates, utcnow())
    except Exception as exc:
        _log_not_stored("receipt_write_failed", sink.name, exc)
        return _unavailable()
    response = web.json_response({"status": "accepted", "events": len(updates), "new": new})
    response[COUNTS] = (new, 0)  # for the metrics
    return response


def _log_not_stored(event: str, connector: str, exc: Exception) -> None:
    """Log why a delivery was not stored: the error's class and its driver's, never its text or
    traceback (a database error's text carries the statement's parameters: the payload)."""
    cause = getattr(exc, "orig", None) or exc.__cause__
    log.error(event, connector=connector, error=type(exc).__name__,
              cause=type(cause).__name__ if cause is not None else None,
              message="not stored; answered 503 so that the sender retries")


def _unavailable() -> web.Response:
    from hub.web.errors import error_response

    return error_response(503, "unavailable", "the hub cannot store this now; retry later",
                          headers={"Retry-After": "5"})


async def webhook_head(request: web.Request) -> web.Response:
    """Answer the unsigned HEAD some providers (Mandrill) send to check a webhook URL."""
    hub: Hub = request.app[HUB]
    name = request.match_info["connector"]
    known = name in hub.sources or hub.sink_named(name) is not None
    return web.Response(status=200 if known else 404)
