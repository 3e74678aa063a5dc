"""Process helpers for the reliability suites: fake providers and hub nodes as child
processes, and reading what the fakes accepted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.delivery.conftest import message_id_of
from tests.reliability.chaos_counts import Copy

BIN = Path(sys.executable).parent


def clean_env() -> dict[str, str]:
    """The environment for child processes (no inherited config path)."""
    env = dict(os.environ)
    env.pop("RETURNHUB_CONFIG", None)
    return env


def start_fake(module: str, record: Path, log: Path, *args: str
               ) -> tuple[subprocess.Popen, dict]:
    """``python -m hub.testing.<module>`` recording to ``record``; returns it and its
    announcement (``url`` and more)."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"hub.testing.{module}", "--port", "0", "--record", str(record),
         *args], stdout=subprocess.PIPE, stderr=log.open("a"), text=True)
    return process, json.loads(process.stdout.readline())


def records(path: Path) -> list[dict]:
    """The messages a fake accepted (its JSONL record)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def message_counts(*paths: Path) -> Counter:
    """How often each of our message ids reached the fakes recording to ``paths``."""
    return Counter(message_id_of(r) for path in paths for r in records(path))


def receptions(*paths: Path) -> dict[str | None, list[Copy]]:
    """Which fake accepted each of our message ids, when (unix time) and whether it lost the
    answer after accepting (``answer_lost``), oldest first."""
    seen: dict[str | None, list[Copy]] = {}
    for path in paths:
        for record in records(path):
            seen.setdefault(message_id_of(record), []).append(
                Copy(str(record.get("provider")), float(record.get("received_at") or 0),
                     record.get("answer_lost")))
    for accepted in seen.values():
        accepted.sort(key=lambda copy: copy.at)
    return seen


def log_events(path: Path) -> tuple[Counter, dict[str, list[dict]]]:
    """The hub processes' JSON log: how often each event was logged (by level and name), and
    the lines that name a notification id, per id. Lines that are not JSON (the lines of a
    traceback, e.g. of a node that failed to start) are counted under ``"-:unparsed"``."""
    counts: Counter = Counter()
    by_notification: dict[str, list[dict]] = {}
    if not path.exists():
        return counts, by_notification
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            counts["-:unparsed"] += 1
            continue
        if not isinstance(entry, dict):
            counts["-:unparsed"] += 1
            continue
        counts[f"{entry.get('level', '?')}:{entry.get('event', '?')}"] += 1
        notification_id = entry.get("notification_id")
        if isinstance(notification_id, str):
            by_notification.setdefault(notification_id, []).append(
                {key: entry[key] for key in ("timestamp", "level", "event", "error", "provider")
                 if key in entry})
    return counts, by_notification


def returnhub(config: Path, *args: str, log: Path) -> subprocess.Popen:
    """A ``returnhub`` child process."""
    return subprocess.Popen([str(BIN / "returnhub"), "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=log.open("a"), text=True,
                            env=clean_env())


def listening_url(process: subprocess.Popen) -> str:
    """Wait for ``returnhub serve`` to print its address."""
    line = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        raise RuntimeError(f"the hub did not start: {line!r}")
    return match.group(1)


def stop_all(processes: list[subprocess.Popen]) -> None:
    """Terminate (then kill) every process still running."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
