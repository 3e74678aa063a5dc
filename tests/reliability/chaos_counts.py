"""The chaos run's verdict per channel and per event, from what the fakes accepted.

Per channel: how many notifications were planned, how many no fake of the channel accepted
(lost), and every extra copy a fake accepted (a duplicate) with its cause. A duplicate is
explained when the copy before it went unanswered: the fake accepted it and then answered 503
or reset the connection (``answer_lost`` in its record), or a worker was SIGKILLed between one
second before that copy and ``kill_window`` seconds after it (killed before it recorded the
send; the next worker sends again once the lease runs out). Any other duplicate is
``unexplained``.

Per event: every acknowledged event must be delivered on every channel its stage names, i.e.
a fake of that channel accepted a notification of that event's return on that channel.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: Events shown in the report for each channel that missed some (all are counted).
EXAMPLES_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Copy:
    """One message a fake accepted: which fake, when (unix time), and whether the answer to
    the sender was lost (``"503"``, ``"reset"`` or None)."""

    provider: str
    at: float
    answer_lost: str | None = None


def duplicate_causes(copies: list[Copy], kill_times: Iterable[float], origin: float,
                     kill_window: float) -> Counter:
    """Why each copy after the first was sent: what happened to the copy before it."""
    causes: Counter = Counter()
    kills = list(kill_times)
    ordered = sorted(copies, key=lambda copy: copy.at)
    for previous in ordered[:-1]:
        since = previous.at - origin
        if previous.answer_lost:
            causes[f"answer_lost_{previous.answer_lost}"] += 1
        elif any(since - 1 <= kill <= since + kill_window for kill in kills):
            causes["worker_killed"] += 1
        else:
            causes["unexplained"] += 1
    return causes


def unexplained_ids(copies: Mapping[str | None, list[Copy]], kill_times: Iterable[float],
                    origin: float, kill_window: float) -> list[str]:
    """The message ids with at least one unexplained copy (see :func:`duplicate_causes`)."""
    kills = list(kill_times)
    return sorted(mid for mid, found in copies.items() if mid is not None and len(found) > 1
                  and duplicate_causes(found, kills, origin, kill_window)["unexplained"])


def channel_counts(planned: set[str], copies: Mapping[str | None, list[Copy]],
                   kill_times: Iterable[float], origin: float, kill_window: float
                   ) -> dict[str, Any]:
    """One channel's counts: ``planned`` are its notification ids, ``copies`` what its fakes
    accepted per message id (ids of other channels are ignored)."""
    accepted = {mid: found for mid, found in copies.items() if mid in planned}
    causes: Counter = Counter()
    for found in accepted.values():
        causes += duplicate_causes(found, kill_times, origin, kill_window)
    return {
        "planned": len(planned),
        "delivered": len(accepted),
        "lost": len(planned - set(accepted)),
        "duplicates": sum(causes.values()),
        "duplicate_causes": dict(sorted(causes.items())),
        "unexplained_duplicates": causes["unexplained"],
        "answers_lost_at_providers": sum(1 for found in accepted.values() for copy in found
                                         if copy.answer_lost),
    }


def event_counts(acknowledged: Mapping[str, str], notifications: Iterable[tuple[str, str, str]],
                 delivered: Mapping[str, set[str]], channels: Iterable[str]) -> dict[str, Any]:
    """Per acknowledged event, was it delivered on every channel?

    :param acknowledged: event id → the external id of its return.
    :param notifications: (notification id, channel, return external id) of every notification.
    :param delivered: channel → the notification ids a fake of that channel accepted.
    :param channels: the channels the events' stage names.
    """
    by_return: dict[str, dict[str, list[str]]] = {}
    for notification_id, channel, external_id in notifications:
        by_return.setdefault(external_id, {}).setdefault(channel, []).append(notification_id)
    wanted = list(channels)
    missing: dict[str, list[str]] = {channel: [] for channel in wanted}
    complete = 0
    for event_id, external_id in sorted(acknowledged.items()):
        planned = by_return.get(external_id, {})
        gaps = [channel for channel in wanted
                if not any(n in delivered.get(channel, set()) for n in planned.get(channel, []))]
        for channel in gaps:
            missing[channel].append(event_id)
        complete += not gaps
    return {
        "acknowledged": len(acknowledged),
        "delivered_on_every_channel": complete,
        "missing": {channel: len(events) for channel, events in missing.items()},
        "missing_examples": {channel: events[:EXAMPLES_SHOWN]
                             for channel, events in missing.items() if events},
    }


def summary(report: Mapping[str, Any]) -> str:
    """The run's verdict in a few lines: per channel, then per event."""
    lines = [f"chaos: {report['events']} events, {report['acked']} acknowledged, "
             f"{report['seconds']} s; chaos {report['chaos']}"]
    for channel, counts in report["channels"].items():
        lines.append(
            f"  {channel:5}: planned {counts['planned']}, delivered {counts['delivered']}, "
            f"lost {counts['lost']}, duplicates {counts['duplicates']} "
            f"{counts['duplicate_causes']}, answers lost at providers "
            f"{counts['answers_lost_at_providers']}")
    per_event = report["per_event"]
    lines.append(f"  events: {per_event['delivered_on_every_channel']} of "
                 f"{per_event['acknowledged']} acknowledged delivered on every channel; "
                 f"missing {per_event['missing']}")
    lines.append(f"  unexpected {report['unexpected']}, never planned "
                 f"{report['never_planned']}, unfinished {report['unfinished_count']}")
    return "\n".join(lines)
