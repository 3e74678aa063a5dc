"""Events from a local JSON file, for ``returnhub rules test`` and ``returnhub simulate``.

A file holds either a normalized event (the hub's own format) or what a platform sends: a
Shopify webhook body, an ERP record, a carrier's tracking update. A platform payload goes
through its source's own ``parse``, the one ingress uses, with the headers the source's
``sign`` would send (a Shopify topic is told from the payload's shape unless a header gives
it); the signature itself is not checked, since the file did not come from the platform.
``--source`` names the source; without it, the source is inferred when exactly one configured
source understands the payload.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from hub.connectors import ConnectorContext, InboundRequest, Source
from hub.errors import RequestRejected
from hub.events import ReturnEvent
from hub.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hub.runtime import Hub

#: What the tools print about signatures when a platform payload is read from a file.
SIGNATURE_NOTE = "signature not checked (a local file, not a delivery from the platform)"


class PayloadError(Exception):
    """The file cannot be turned into events; the message says why, naming the field."""


@dataclass(slots=True)
class LocalEvents:
    """The events a file holds and how they were read."""

    events: list[ReturnEvent]
    #: The configured source that parsed a platform payload (None: a normalized event).
    source: str | None = None
    notes: list[str] = field(default_factory=list)


def _normalized(payload: Any) -> ReturnEvent | None:
    if not isinstance(payload, dict) or "type" not in payload:
        return None
    try:
        return ReturnEvent.model_validate({**payload, "source": "", "source_event_id": "x"})
    except ValidationError:
        return None


def source_instances(hub: Hub) -> dict[str, Source]:
    """The configured sources: the running ones, or built (not started) for a tool."""
    if hub.sources:
        return dict(hub.sources)
    found = {}
    for name, spec in hub.specs.items():
        if spec.kind == "sources":
            found[name] = spec.cls(spec.config, ConnectorContext(
                name=name, http=None, public_url=hub.public_url,
                data_dir=hub.settings.data_dir / "connectors" / name,
                log=get_logger(f"connector.{name}", connector=name)))
    return found


def _request(source: Source, body: bytes, headers: Mapping[str, str]) -> InboundRequest:
    sent: dict[str, str] = {"Content-Type": "application/json"}
    try:  # what the platform's delivery carries besides the signature (Shopify's topic, id)
        sent.update(source.sign(body, event_id=f"local-{uuid.uuid4().hex}"))
    except (NotImplementedError, ValueError):
        pass
    sent.update(headers)
    path = f"/webhooks/{source.name}"
    return InboundRequest(method="POST", url=f"{source.context.public_url}{path}", path=path,
                          headers=CIMultiDictProxy(CIMultiDict(sent)), query={}, body=body,
                          received_at=datetime.now(UTC), remote="local-file")


async def _parse(source: Source, body: bytes, headers: Mapping[str, str]) -> list[ReturnEvent]:
    try:
        return await source.parse(_request(source, body, headers))
    except RequestRejected as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise PayloadError(f"source {source.name!r} ({source.type}) cannot read it: "
                           f"{exc.message}{where}") from None


async def read_events(hub: Hub, text: str, *, source: str | None, default_source: str,
                      headers: Mapping[str, str] | None = None) -> LocalEvents:
    """The events in ``text``: a normalized event attributed to ``source`` (else
    ``default_source``), or a platform payload parsed by ``source`` (else inferred)."""
    body = text.encode()
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    event = _normalized(payload)
    if event is not None:
        name = source or default_source
        return LocalEvents([event.model_copy(update={
            "source": name, "source_event_id": f"local-{uuid.uuid4().hex}"})])
    sources = source_instances(hub)
    if source is not None:
        if source not in sources:
            raise PayloadError(f"no source named {source!r} is configured (configured: "
                               f"{', '.join(sorted(sources)) or 'none'})")
        chosen = {source: await _parse(sources[source], body, headers or {})}
    else:
        chosen = {}
        for name, candidate in sources.items():
            try:
                events = await _parse(candidate, body, headers or {})
            except PayloadError:
                continue
            if events:
                chosen[name] = events
        if len(chosen) != 1:
            which = (f"sources {', '.join(sorted(chosen))} all read it" if chosen
                     else "no configured source reads it as a normalized event or a payload")
            raise PayloadError(f"{which}: name the source with --source")
    name, events = next(iter(chosen.items()))
    notes = [f"parsed by source {name!r} ({sources[name].type}), as ingress would",
             SIGNATURE_NOTE]
    if not events:
        notes.append("the source acknowledges this payload with no event (a topic or status "
                     "it ignores)")
    return LocalEvents(events, name, notes)
