"""Process helpers for the reliability suites: fake providers and hub nodes as child
processes, reading what the fakes accepted, and the SMS crash tests' rig."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from hub.config import load_settings
from hub.runtime import Hub
from tests.conftest import TEST_SECRET, make_settings
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
    """The messages a fake accepted (its JSONL record), complete lines only.

    The fake may be writing while we read, and a reader can see a write of a line half done
    (a regular file's write is not atomic to a concurrent read), so a last line that has no
    newline yet is left for the next read."""
    if not path.exists():
        return []
    complete, _, _unfinished = path.read_text().rpartition("\n")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


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


def sms_hub_config(tmp_path: Path, db_url: str, twilio_url: str, *, worker: str = "",
                   sink: str = "", channel: str = "", extra: str = "") -> Path:
    """A hub config that texts every approval through the fake Twilio at ``twilio_url``, with
    short leases and retries; ``worker``, ``sink`` and ``channel`` are TOML lines added to
    those sections, ``extra`` whole sections added at the end."""
    config = tmp_path / "hub.toml"
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[database]
url = "{db_url}"
[logging]
format = "json"
level = "INFO"
[security]
pii_keys = ["{make_settings(tmp_path).security.pii_keys[0].get_secret_value()}"]
lookup_key = "crash-lookup-key"
outbound_allow = ["127.0.0.0/8"]
[worker]
lease_seconds = 2
idle_poll_seconds = 0.05
retry_base_seconds = 0.1
retry_max_seconds = 1
{worker}
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.tw]
type = "twilio_sms"
account_sid = "AC{'0' * 32}"
auth_token = "fake-token"
from_number = "+15005550006"
base_url = "{twilio_url}"
{sink}
[channels.sms]
providers = ["tw"]
reconcile_seconds = 0.5
{channel}
[notifications.stages.approved]
channels = ["sms"]
{extra}
""")
    return config


def kill(process: subprocess.Popen) -> None:
    """``kill -9`` a process and reap it."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


class SmsRig:
    """The fake Twilio as its own process, the test's own hub (it plans; it never sends) and
    ``returnhub worker`` processes, all on one config (:func:`sms_hub_config`)."""

    def __init__(self, tmp_path: Path, db_url: str, **config: str) -> None:
        self.logs, self.record = tmp_path / "logs.txt", tmp_path / "tw.jsonl"
        self.fake, announcement = start_fake("fake_twilio", self.record, self.logs)
        self.fake_url = announcement["url"]
        self.config = sms_hub_config(tmp_path, db_url, self.fake_url, **config)
        self.processes: list[subprocess.Popen] = [self.fake]
        self.hub: Hub | None = None

    async def start_hub(self) -> Hub:
        """Migrate the database (as the CLI does) and start the test's hub without workers."""
        subprocess.run([str(BIN / "returnhub"), "--config", str(self.config), "db", "upgrade"],
                       check=True, capture_output=True, timeout=60, env=clean_env())
        self.hub = Hub.build(load_settings(self.config))
        await self.hub.start(workers=False, migrate=False)
        return self.hub

    def worker(self) -> subprocess.Popen:
        """Start one more ``returnhub worker`` process."""
        process = subprocess.Popen([str(BIN / "returnhub"), "--config", str(self.config),
                                    "worker"], stdout=subprocess.DEVNULL,
                                   stderr=self.logs.open("a"), env=clean_env())
        self.processes.append(process)
        return process

    async def close(self) -> None:
        """Stop every process, then the test's hub."""
        stop_all(self.processes)
        if self.hub is not None:
            await self.hub.stop()
