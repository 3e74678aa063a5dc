"""The return state machine: forward moves, late and duplicate events, terminal states."""

from __future__ import annotations

import pytest

from hub.events import EVENT_TARGET, EventType, Lifecycle, Outcome, ReturnState

S, E = ReturnState, EventType


@pytest.mark.parametrize(("current", "event", "outcome", "after"), [
    (None, E.REQUESTED, Outcome.MOVED, S.REQUESTED),
    (None, E.APPROVED, Outcome.MOVED, S.APPROVED),
    (S.REQUESTED, E.PENDING_REVIEW, Outcome.MOVED, S.PENDING_REVIEW),
    (S.PENDING_REVIEW, E.APPROVED, Outcome.MOVED, S.APPROVED),
    (S.PENDING_REVIEW, E.DECLINED, Outcome.MOVED, S.DECLINED),
    (S.APPROVED, E.LABEL_CREATED, Outcome.MOVED, S.LABEL_CREATED),
    (S.LABEL_CREATED, E.DELIVERED_TO_WAREHOUSE, Outcome.MOVED, S.DELIVERED_TO_WAREHOUSE),
    (S.INSPECTED, E.REFUNDED, Outcome.MOVED, S.REFUNDED),
    (S.REFUNDED, E.CLOSED, Outcome.MOVED, S.CLOSED),
    (S.APPROVED, E.CANCELLED, Outcome.MOVED, S.CANCELLED),
    (S.CLOSED, E.REOPENED, Outcome.MOVED, S.APPROVED),
    # late and duplicate events change nothing
    (S.IN_TRANSIT, E.LABEL_CREATED, Outcome.LATE, S.IN_TRANSIT),
    (S.RECEIVED, E.APPROVED, Outcome.LATE, S.RECEIVED),
    (S.REFUNDED, E.RESTOCKED, Outcome.LATE, S.REFUNDED),
    (S.REFUNDED, E.EXCHANGE_SHIPPED, Outcome.LATE, S.REFUNDED),
    (S.APPROVED, E.APPROVED, Outcome.DUPLICATE, S.APPROVED),
    (S.CLOSED, E.APPROVED, Outcome.LATE, S.CLOSED),
    # moves that are not allowed
    (S.IN_TRANSIT, E.CANCELLED, Outcome.REJECTED, S.IN_TRANSIT),
    (S.RECEIVED, E.DECLINED, Outcome.REJECTED, S.RECEIVED),
    (S.DECLINED, E.REOPENED, Outcome.REJECTED, S.DECLINED),
    (S.CANCELLED, E.REFUNDED, Outcome.LATE, S.CANCELLED),
    # flags and data-only events
    (S.IN_TRANSIT, E.SHIPMENT_EXCEPTION, Outcome.FLAGGED, S.IN_TRANSIT),
    # the parcel of a return that is over is no return parcel (found from outside)
    (S.CANCELLED, E.SHIPMENT_EXCEPTION, Outcome.REJECTED, S.CANCELLED),
    (S.CLOSED, E.SHIPMENT_EXCEPTION, Outcome.REJECTED, S.CLOSED),
    (S.DECLINED, E.SHIPMENT_EXCEPTION, Outcome.REJECTED, S.DECLINED),
    (S.APPROVED, E.UPDATED, Outcome.UPDATED, S.APPROVED),
])
def test_transitions(current, event, outcome, after):
    transition = Lifecycle.apply(current, event)
    assert transition.outcome is outcome
    assert (transition.to_state or current) == after


def test_every_state_has_an_event_that_reaches_it():
    assert set(EVENT_TARGET.values()) == set(ReturnState)


def test_no_sequence_of_events_moves_a_return_backwards():
    from hub.events import STATE_RANK

    for current in ReturnState:
        for event in EventType:
            if event is EventType.REOPENED or event.value.startswith("privacy."):
                continue
            transition = Lifecycle.apply(current, event)
            if transition.outcome is Outcome.MOVED:
                assert STATE_RANK[transition.to_state] >= STATE_RANK[current], (current, event)
