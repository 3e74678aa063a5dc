"""Where messages end up, and how the benchmark counts them.

A target is one sink kind seen from outside the hub: it starts the provider process the sink
talks to (if any), gives the hub its ``[sinks.*]`` section and the floor its upstream, and
reads back every delivered message as a :class:`Delivery` (a key naming the event, and when).
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.procs import Managed, ProcessGroup

ROOT = Path(__file__).resolve().parent.parent
SENDGRID_KEY = "SG.bench-key"
#: The connector name the hub's sink gets in the bench config.
SINK_NAME = "mail"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the provider (or the outbox folder) got it.

    ``kind`` says what ``key`` is: ``message_id`` (the hub's notification id, mapped to its
    event through the database), ``webhook_id`` or ``return_id``.
    """

    kind: str
    key: str
    at: float  #: wall clock, seconds


class Target:
    """Base: no provider process; subclasses fill in the rest."""

    name = "?"

    def __init__(self, group: ProcessGroup, work_dir: Path, outbox_base: Path | None = None
                 ) -> None:
        self.group = group
        self.work_dir = work_dir
        #: Where a file outbox goes (tmpfs by default, see run.py); None: the work folder.
        self.outbox_base = outbox_base
        self.provider: Managed | None = None

    def start(self, *, floor: bool) -> None:
        """Start what must run before the hub or the floor does."""

    def stop(self) -> None:
        """Stop the provider process, if any."""
        if self.provider is not None:
            self.group.stop(self.provider)
            self.provider = None

    def cleanup(self) -> None:
        """Remove what the target wrote outside the measurement's folder."""

    def sink_config(self) -> dict[str, Any]:
        """The hub's ``[sinks.mail]`` section."""
        raise NotImplementedError

    def floor_upstream(self) -> tuple[str, str]:
        """(mode, upstream URL) for bench/floor.py."""
        raise NotImplementedError

    def delivered_count(self) -> int:
        """How many messages arrived so far (cheap; polled)."""
        raise NotImplementedError

    def report_status_to(self, hub_url: str) -> bool:
        """Have the provider post a ``delivered`` status webhook for every message it accepts
        to the hub's sink webhook route at ``hub_url``; False when this target cannot."""
        return False

    def deliveries(self) -> list[Delivery]:
        """Every message that arrived."""
        raise NotImplementedError


class FileTarget(Target):
    """The hub's ``file`` sink writes ``<message id>.eml``; the floor posts to
    bench/file_provider.py, which writes ``<webhook id>.<n>.json``."""

    name = "file"

    def __init__(self, group: ProcessGroup, work_dir: Path, outbox_base: Path | None = None
                 ) -> None:
        super().__init__(group, work_dir, outbox_base)
        self.directory = (outbox_base or work_dir) / f"{work_dir.name}-outbox"
        self.floor = False
        self.url = ""

    def start(self, *, floor: bool) -> None:
        """The floor needs the file provider process; the hub writes files itself."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.floor = floor
        if floor:
            self.provider = self.group.start(
                "file-provider", [sys.executable, "-m", "bench.file_provider", "--dir",
                                  str(self.directory)], cwd=ROOT)
            match = self.provider.wait_for_line(r"listening on (http://\S+)", timeout=30)
            self.url = match.group(1)

    def cleanup(self) -> None:
        """The outbox may live on tmpfs, outside the measurement's folder."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def sink_config(self) -> dict[str, Any]:
        """A ``file`` sink into the outbox folder (no fsync: the sink's default)."""
        return {"type": "file", "directory": str(self.directory)}

    def floor_upstream(self) -> tuple[str, str]:
        """The file provider."""
        return "file", self.url

    def _files(self) -> list[Path]:
        pattern = "*.json" if self.floor else "*.eml"
        return list(self.directory.glob(pattern))

    def delivered_count(self) -> int:
        """Files written so far."""
        return len(self._files())

    def deliveries(self) -> list[Delivery]:
        """One delivery per file, timed by its modification time."""
        kind = "webhook_id" if self.floor else "message_id"
        return [Delivery(kind, path.name.split(".", 1)[0], path.stat().st_mtime)
                for path in self._files()]


class SendGridTarget(Target):
    """A fake SendGrid process (hub.testing.fake_sendgrid) recording accepted messages."""

    name = "sendgrid"

    def __init__(self, group: ProcessGroup, work_dir: Path, outbox_base: Path | None = None
                 ) -> None:
        super().__init__(group, work_dir, outbox_base)
        self.record_path = work_dir / "sendgrid-records.jsonl"
        self.url = ""
        self.public_key = ""

    def start(self, *, floor: bool) -> None:
        """Start the fake with a fresh record file."""
        self.record_path.unlink(missing_ok=True)
        self.provider = self.group.start(
            "fake-sendgrid", [sys.executable, "-m", "hub.testing.fake_sendgrid", "--port", "0",
                              "--api-key", SENDGRID_KEY, "--record", str(self.record_path)],
            cwd=ROOT)
        match = self.provider.wait_for_line(r'^\{.*"url":\s*"http://[^"]+".*\}$', timeout=30)
        announcement = orjson.loads(match.group(0))
        self.url, self.public_key = announcement["url"], announcement["public_key"]

    def sink_config(self) -> dict[str, Any]:
        """A ``sendgrid`` sink pointed at the fake, verifying the fake's signed status
        webhooks."""
        return {"type": "sendgrid", "api_key": SENDGRID_KEY, "base_url": self.url,
                "from_address": "returns@bench.example", "webhook_public_key": self.public_key}

    def report_status_to(self, hub_url: str) -> bool:
        """Turn on the fake's status feed: signed Event Webhook batches of ``delivered``."""
        request = urllib.request.Request(  # noqa: S310 (a local fake)
            f"{self.url}/__fake__/status-webhook", method="POST",
            data=orjson.dumps({"url": f"{hub_url}/webhooks/{SINK_NAME}", "event": "delivered",
                               "batch_seconds": 0.5}))
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status == 200

    def floor_upstream(self) -> tuple[str, str]:
        """The same fake."""
        return "sendgrid", self.url

    def delivered_count(self) -> int:
        """The fake's record count, over its control API."""
        with urllib.request.urlopen(f"{self.url}/__fake__/records?count_only=1",  # noqa: S310
                                    timeout=10) as answer:
            return int(orjson.loads(answer.read())["count"])

    def deliveries(self) -> list[Delivery]:
        """Each recorded mail/send, keyed by its return id custom arg (``return``, with or
        without the sink's prefix), else by its message id custom arg."""
        found = []
        if not self.record_path.exists():
            return found
        with self.record_path.open("rb") as handle:
            for line in handle:
                record = orjson.loads(line)
                body = record["request"]
                args = dict(body.get("custom_args") or {})
                for personalization in body.get("personalizations") or []:
                    args.update(personalization.get("custom_args") or {})
                found.append(_keyed(args, float(record["received_at"])))
        return found


def _keyed(args: dict[str, Any], at: float) -> Delivery:
    for key, value in args.items():
        if key == "return" or key.endswith("_return"):
            return Delivery("return_id", str(value), at)
    for key, value in args.items():
        if key.endswith("message_id"):
            return Delivery("message_id", str(value), at)
    return Delivery("return_id", "", at)


TARGETS: dict[str, type[Target]] = {"file": FileTarget, "sendgrid": SendGridTarget}


def sendgrid_problem() -> str | None:
    """Why ``--sink sendgrid`` cannot run here, or None when it can."""
    try:
        import hub.testing.fake_sendgrid  # noqa: F401
        import returnhub_sendgrid  # noqa: F401
    except ImportError as exc:
        return f"the SendGrid plugin or its fake server is missing ({exc})"
    return None
