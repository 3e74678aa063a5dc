"""Turning what the client, the provider and the hub's database saw into the reported numbers.

Every count is checked per event: each of the N events is its own return, so a message can
be traced to its event through the return id (directly, or through the notification's row).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.hubdb import HubFacts
    from bench.loadgen import LoadResult
    from bench.targets import Delivery
    from bench.webhooks import EventSet


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class Measurement:
    """One program under load: the floor relay or a hub configuration."""

    label: str
    kind: str                     #: floor | hub
    sink: str
    db: str | None
    events: int                   #: requests sent
    acked: int = 0                #: 202 answers (the hub: events durably in its inbox)
    rejected: int = 0             #: non-2xx answers and socket errors
    delivered: int = 0            #: events with at least one message at the provider
    duplicates: int = 0           #: messages beyond the first per event
    missing: int = 0              #: acked events with no message
    unexpected: int = 0           #: messages that match no event of this run
    ingest_eps: float = 0.0       #: acked ÷ (first request → last answer)
    e2e_eps: float = 0.0          #: acked ÷ (first request → last delivery)
    load_seconds: float = 0.0
    e2e_seconds: float = 0.0
    ack_ms: dict[str, float] = field(default_factory=dict)      #: webhook answer latency
    deliver_ms: dict[str, float] = field(default_factory=dict)  #: event received → sent
    #: Events whose message's ``delivered`` status webhook came back and was recorded.
    receipts: int = 0
    receipt_ms: dict[str, float] = field(default_factory=dict)  #: event received → receipt
    #: acked ÷ (first request → last receipt recorded): the whole loop, status webhook included
    receipt_eps: float = 0.0
    workers: int | None = None    #: worker processes (layout split); None: one process
    peak_rss_mb: float | None = None
    largest_rss_mb: float | None = None  #: the peak of its largest single process
    cpu_ms_per_event: float | None = None  #: the relay's or hub's CPU time ÷ acked events
    cpu_kernel_share: float | None = None  #: the part of that CPU time spent in the kernel
    main_thread_share: float | None = None  #: the part spent by the event-loop thread(s)
    foreign_cpu_share: float | None = None  #: other processes' share of the machine meanwhile
    client_cpu_us_per_request: float | None = None  #: wrk's CPU time per request
    db_server_cpu_ms_per_event: float | None = None  #: PostgreSQL's processes, per event
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    trial: int = 1
    trials: int = 1               #: how many trials of this configuration ran

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _ms(values_us: dict[str, float]) -> dict[str, float]:
    return {key: round(value / 1000, 2) for key, value in values_us.items()}


def apply_load(result: Measurement, load: LoadResult) -> None:
    """Fill in the client's side: acks, rejections, ingest rate, ack latency."""
    result.acked = load.accepted
    result.rejected = load.failed + load.duplicate + load.socket_errors
    result.load_seconds = round(load.seconds, 3)
    result.ingest_eps = round(load.accepted / load.seconds, 1)
    result.ack_ms = _ms({k: v for k, v in load.latency_us.items() if k in ("p50", "p99", "max")})
    if load.requests:
        result.client_cpu_us_per_request = round(load.client_cpu * 1e6 / load.requests, 1)
    if not load.complete:
        result.notes.append(f"the load did not finish: {load.raw.get('threads')}")
    if load.extra:
        result.notes.append(f"{load.extra} requests were re-sent after socket errors")
    if load.duplicate:
        result.notes.append(f"{load.duplicate} answers said duplicate (200)")


def _per_event(deliveries: list[Delivery], events: EventSet,
               message_to_return: dict[str, str] | None) -> tuple[Counter, int]:
    """Deliveries per event index, and how many matched no event."""
    by_return, by_id = events.index_of_return(), events.index_of_id()
    counts: Counter = Counter()
    unexpected = 0
    for delivery in deliveries:
        if delivery.kind == "message_id":
            ref = (message_to_return or {}).get(delivery.key)
            index = by_return.get(ref) if ref is not None else None
        elif delivery.kind == "return_id":
            index = by_return.get(delivery.key)
        else:
            index = by_id.get(delivery.key)
        if index is None:
            unexpected += 1
        else:
            counts[index] += 1
    return counts, unexpected


def _finish_e2e(result: Measurement, deliveries: list[Delivery], load: LoadResult) -> None:
    if deliveries and result.acked:
        last = max(delivery.at for delivery in deliveries)
        result.e2e_seconds = round(max(last - load.started_at, load.seconds), 3)
        result.e2e_eps = round(result.acked / result.e2e_seconds, 1)


def analyse_floor(result: Measurement, load: LoadResult, deliveries: list[Delivery],
                  events: EventSet) -> Measurement:
    """The relay answers after the provider did, so its delivery latency is its ack latency;
    which requests were acked is not known individually, only how many."""
    apply_load(result, load)
    counts, result.unexpected = _per_event(deliveries, events, None)
    result.delivered = len(counts)
    result.duplicates = sum(count - 1 for count in counts.values())
    result.missing = max(0, result.acked - result.delivered)
    result.deliver_ms = {"p50": result.ack_ms.get("p50"), "p99": result.ack_ms.get("p99")}
    _finish_e2e(result, deliveries, load)
    return result


def analyse_hub(result: Measurement, load: LoadResult, deliveries: list[Delivery],
                events: EventSet, facts: HubFacts) -> Measurement:
    """Acked events are the inbox rows (the hub answers 202 only after their commit); each
    must have exactly one message at the provider and one accepted provider call."""
    apply_load(result, load)
    by_id = events.index_of_id()
    acked = {by_id[event_id] for event_id in facts.inbox_ids if event_id in by_id}
    if len(acked) != load.accepted:
        result.notes.append(f"inbox holds {len(acked)} events but {load.accepted} were "
                            "answered 202")
    message_to_return = {row.id: row.return_ref for row in facts.notifications}
    counts, result.unexpected = _per_event(deliveries, events, message_to_return)
    by_return = events.index_of_return()
    calls: Counter = Counter()
    for row in facts.notifications:
        index = by_return.get(row.return_ref)
        if index is not None:
            calls[index] += facts.accepted_attempts.get(row.id, 0)
    result.delivered = len(counts)
    result.duplicates = sum(max(counts[i], calls[i]) - 1 for i in counts)
    result.missing = len(acked - set(counts))
    statuses = Counter(row.status for row in facts.notifications)
    if sum(statuses.get(s, 0) for s in ("sent", "delivered")) != len(facts.notifications):
        result.notes.append(f"notification statuses: {dict(statuses)}")
    if len(facts.notifications) != len(acked):
        result.notes.append(f"{len(facts.notifications)} notifications planned for "
                            f"{len(acked)} events")
    waits = [(row.sent_at - row.event_received_at).total_seconds() * 1000
             for row in facts.notifications if row.sent_at is not None]
    result.deliver_ms = {"p50": _round(percentile(waits, 50)), "p99": _round(percentile(waits, 99)),
                         "max": _round(max(waits) if waits else None)}
    _finish_e2e(result, deliveries, load)
    _receipts(result, facts, load)
    return result


def _receipts(result: Measurement, facts: HubFacts, load: LoadResult) -> None:
    """The provider's status webhooks back into the hub (when the target sends them)."""
    if not facts.receipts:
        return
    received = {row.id: row.event_received_at for row in facts.notifications}
    waits = [(at - received[notification_id]).total_seconds() * 1000
             for notification_id, at in facts.receipts.items() if notification_id in received]
    result.receipts = len(waits)
    result.receipt_ms = {"p50": _round(percentile(waits, 50)),
                         "p99": _round(percentile(waits, 99))}
    last = max(facts.receipts.values()).timestamp()
    seconds = max(last - load.started_at, load.seconds)
    result.receipt_eps = round(result.acked / seconds, 1) if seconds > 0 else 0.0


def analyse_ingest(result: Measurement, load: LoadResult, events: EventSet,
                   facts: HubFacts) -> Measurement:
    """Ingress alone: what was acked must be in the inbox; nothing is delivered."""
    apply_load(result, load)
    by_id = events.index_of_id()
    stored = {by_id[event_id] for event_id in facts.inbox_ids if event_id in by_id}
    result.missing = max(0, load.accepted - len(stored))
    result.e2e_eps = 0.0
    result.notes.append(f"ingress only: {len(stored):,} events in the inbox, none delivered "
                        "(by design)")
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def best_of(results: list[Measurement]) -> list[Measurement]:
    """Per configuration (label), the trial with the highest events/s (end-to-end; ingest when
    nothing is delivered), in first-seen order; a configuration whose every trial failed keeps
    its first failure. Other processes on the machine only ever slow a trial down, so the best
    trial is the least disturbed one."""
    groups: dict[str, list[Measurement]] = {}
    for result in results:
        groups.setdefault(result.label, []).append(result)
    chosen = []
    for trials in groups.values():
        ok = [r for r in trials if not r.error]
        best = max(ok, key=lambda r: r.e2e_eps or r.ingest_eps) if ok else trials[0]
        best.trials = len(trials)
        failures = [r for r in trials if r.error or r.missing or r.duplicates or r.unexpected]
        if failures and best not in failures:
            best.notes.append(f"{len(failures)} other trial(s) failed or lost/duplicated "
                              "messages: see the JSON")
        chosen.append(best)
    return chosen


def ratio_rows(results: list[Measurement]) -> list[dict[str, Any]]:
    """hub ÷ floor for every hub result whose sink has a floor result in the same run."""
    floors = {r.sink: r for r in results if r.kind == "floor" and not r.error and r.ingest_eps}
    rows = []
    for result in results:
        floor = floors.get(result.sink)
        if result.kind != "hub" or result.error or floor is None:
            continue
        rows.append({"label": result.label, "floor": floor.label,
                     "ingest": round(result.ingest_eps / floor.ingest_eps, 3),
                     "e2e": (round(result.e2e_eps / floor.e2e_eps, 3)
                             if floor.e2e_eps and result.e2e_eps else None),
                     # the hub's loop closed by the status webhook, against the floor's e2e
                     "receipt": (round(result.receipt_eps / floor.e2e_eps, 3)
                                 if floor.e2e_eps and result.receipt_eps else None),
                     # CPU time per event barely moves with other load: a steadier comparison
                     "cpu": (round(floor.cpu_ms_per_event / result.cpu_ms_per_event, 3)
                             if floor.cpu_ms_per_event and result.cpu_ms_per_event else None)})
    return rows
