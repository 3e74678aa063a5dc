"""Sampling the hub with py-spy during a run, and reading the samples.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``, root
first), which speedscope.app opens as a flame graph; :func:`summarize` turns them into the
top self-time frames and the inclusive share of each part of the hub's path.

    .venv/bin/python -m bench.profiling bench/results/<run>/hub-sqlite-file.profile.txt
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.procs import Managed, ProcessGroup

#: Parts of the path, matched against each frame's "function (file:line)" text; a sample
#: counts towards every part whose pattern appears in its stack (so shares overlap).
COMPONENTS: list[tuple[str, str]] = [
    ("ingress handler (hub/web/ingress.py)", r"\(hub/web/ingress\.py"),
    ("  signature check (returnhub_webhooks/signing.py)", r"\(returnhub_webhooks/signing\.py"),
    ("  source.parse (event validation)", r"^(?:\w+\.)?parse \(returnhub_webhooks/source\.py"),
    ("  inbox rows (encrypt event)", r"^(?:\w+\.)?rows_for \(hub/store/inbox\.py"),
    ("inbox group commit (_write_rows)", r"^(?:\w+\.)?_write_rows \(hub/store/inbox\.py"),
    ("inbox processor (hub/processing/worker.py)", r"\(hub/processing/worker\.py"),
    ("  claim + decrypt events", r"^(?:\w+\.)?_claim \(hub/processing/worker\.py"),
    ("  applier (hub/processing/applier.py)", r"\(hub/processing/applier\.py"),
    ("    decide (hub/domain/: decide, effects, fields, customers)",
     r"\(hub/domain/(decide|effects|fields|customers)\.py"),
    ("    batch rows (hub/store/returns_repo.py, batch_rows.py)",
     r"\(hub/store/(returns_repo|batch_rows)\.py"),
    ("  planner (hub/domain/planner.py)", r"\(hub/domain/planner\.py"),
    ("dispatcher (hub/delivery/dispatcher.py)", r"\(hub/delivery/dispatcher\.py"),
    ("  claim (load rows)", r"^(?:\w+\.)?_?claim \(hub/delivery/dispatcher\.py"),
    ("  compose (context + templates)", r"^(?:\w+\.)?compose \(hub/content/composer\.py"),
    ("  router + sink.send", r"^(?:\w+\.)?deliver \(hub/delivery/router\.py"),
    ("    file sink (returnhub_file)", r"\(returnhub_file/"),
    ("    sendgrid sink (returnhub_sendgrid)", r"\(returnhub_sendgrid/"),
    ("  outcome writer (_write_outcomes)",
     r"^(?:\w+\.)?_write_outcomes \(hub/delivery/dispatcher\.py"),
    ("jinja2 templates", r"\(jinja2/"),
    ("email package (email/)", r"\(email/"),
    ("Fernet (cryptography/fernet.py)", r"\(cryptography/fernet\.py"),
    ("pydantic", r"\(pydantic"),
    ("json (json/, orjson, hub/jsonutil.py)", r"\((json/|orjson|hub/jsonutil\.py)"),
    ("SQLAlchemy ORM (sqlalchemy/orm/)", r"\(sqlalchemy/orm/"),
    ("SQLAlchemy (all)", r"\(sqlalchemy/"),
    ("aiosqlite (thread hand-off + sqlite3)", r"\(aiosqlite/"),
    ("asyncpg", r"\(asyncpg/"),
    ("aiohttp server (web_protocol)", r"\(aiohttp/web_protocol\.py"),
    ("aiohttp client", r"\(aiohttp/(client|connector|client_reqrep)\.py"),
    ("logging (structlog/logging)", r"\((structlog|logging)/"),
    ("thread pool (asyncio.to_thread)", r"\(concurrent/futures/thread\.py"),
    ("event loop select()", r"^(EpollSelector\.)?select \(selectors\.py"),
]


def start(group: ProcessGroup, pid: int, output: Path, rate: int = 250) -> Managed | None:
    """Start ``py-spy record`` on ``pid`` (None when py-spy is not installed)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return None
    # --gil: only the thread holding the GIL is sampled. The hub's Python work is serialized
    # by the GIL, so this is where its CPU goes; without it, threads waiting for the GIL or
    # in select() show up as busy and the shares overstate the event loop (measured: ~50%
    # more "non-idle" samples than the process's CPU time).
    argv = [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
            "--threads", "--gil", "--nonblocking", "--output", str(output)]
    return group.start("py-spy", argv)


def stop(group: ProcessGroup, profiler: Managed | None) -> None:
    """Stop sampling; py-spy writes its file on SIGINT."""
    if profiler is None or not profiler.alive():
        return
    profiler.cpu_seconds()
    profiler.process.send_signal(signal.SIGINT)
    try:
        profiler.process.wait(30)
    except subprocess.TimeoutExpired:
        pass
    group.stop(profiler, timeout=5)


_PATH = re.compile(r"\((/[^():]*)(:\d+)?\)$")
_ROOTS = re.compile(r"(?<=/)(?:site-packages|lib/python3\.\d+|plugins)/|(?<=/)(?=hub/)")


def short_frame(frame: str) -> str:
    """``function (/abs/path/pkg/mod.py:12)`` → ``function (pkg/mod.py:12)``: the path after
    site-packages, the standard library, plugins/ or the checkout holding hub/."""
    match = _PATH.search(frame)
    if not match:
        return frame
    path = match.group(1)
    roots = list(_ROOTS.finditer(path))
    if roots:
        path = path[max(root.end() for root in roots):]
    return f"{frame[:match.start()]}({path}{match.group(2) or ''})"


def _frames(stack: str) -> list[str]:
    return [short_frame(frame) for frame in stack.split(";")]


_OWN_CODE = re.compile(r"\((hub|returnhub_\w+|bench)/")


def _entry_point(frames: list[str]) -> str:
    """The outermost frame of the hub or a plugin on a stack (its task's coroutine), or
    "(no hub frame)" for the event loop, aiohttp and thread hand-offs themselves. For the
    group-commit loop, the writer it runs is named too."""
    # Start below the event loop's callback runner: above it is asyncio.run() in cli.py.
    runners = [i for i, frame in enumerate(frames) if frame.startswith("Handle._run (asyncio/")]
    if not runners:
        if any(frame.startswith("_run_module_as_main") for frame in frames[:3]):
            return "(event loop itself: _run_once, select(), waking up)"
        # py-spy sometimes reads a stack that starts part of the way down (in a resumed
        # coroutine, a template's generator, SQLAlchemy's greenlets): its outermost frame of
        # the hub's own is all there is to name it by. In a run of 3,000 events only about a
        # fifth of these stacks had SQLAlchemy frames.
        own = [frame for frame in frames if _OWN_CODE.search(frame)]
        if own:
            return re.sub(r":\d+\)$", ")", own[0]) + " [cut stack]"
        if any("(sqlalchemy/" in frame for frame in frames):
            return "(cut stack: SQLAlchemy inside greenlet_spawn, caller not visible)"
        return "(cut stack: no hub frame)"
    own = [frame for frame in frames[runners[-1] + 1:] if _OWN_CODE.search(frame)]
    if not own:
        return "(no hub frame: aiohttp internals, thread hand-offs, callbacks)"
    name = re.sub(r":\d+\)$", ")", own[0])
    if name.startswith("json_errors (hub/web/errors.py)"):
        name = "ingress: POST /webhooks (json_errors middleware -> webhook)"
    if name.startswith("GroupCommitter._run") and len(own) > 1:
        name += " -> " + re.sub(r":\d+\)$", ")", own[1])
    return name


def summarize(path: Path, top: int = 25, events: int | None = None, rate: int = 250,
              main_ms_per_event: float | None = None) -> str:
    """A text report of one collapsed-stack file: the share of each thread, then, for the
    main thread (the event loop: everything the hub does in Python runs there), the
    inclusive share of each part of the path and the top self-time frames.

    Shares are given as milliseconds per event too: scaled from ``main_ms_per_event`` (the
    main thread's measured CPU per event, which the benchmark reads from /proc) when given,
    else from the sample count (``events`` processed at ``rate`` samples/s; py-spy's counts
    track CPU time only roughly)."""
    samples: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((_frames(stack), int(count)))
    total = sum(count for _, count in samples) or 1
    threads: Counter = Counter()
    for frames, count in samples:
        threads[frames[0]] += count
    main_thread = next((name for name in threads if name.endswith("MainThread")), None)
    main = [(frames, count) for frames, count in samples if frames[0] == main_thread]
    main_total = sum(count for _, count in main) or 1
    leaves: Counter = Counter()
    parts: Counter = Counter()
    patterns = [(name, re.compile(pattern)) for name, pattern in COMPONENTS]
    for frames, count in main:
        leaves[re.sub(r":\d+\)$", ")", frames[-1])] += count
        for name, regex in patterns:
            if any(regex.search(frame) for frame in frames[1:]):
                parts[name] += count
    entries: Counter = Counter()
    for frames, count in main:
        entries[_entry_point(frames)] += count
    def share(n: int, of: int) -> str:
        if main_ms_per_event is not None and of == main_total:
            cost = f"  {n / of * main_ms_per_event:6.3f} ms/ev"
        else:
            cost = f"  {n / rate * 1000 / events:6.3f} ms/ev" if events else ""
        return f"  {100 * n / of:5.1f}%{cost}"

    per_event = f", {total / rate * 1000 / events:.2f} ms per event" if events else ""
    lines = [f"{total} samples at {rate}/s (GIL held, all threads{per_event})", "", "by thread:"]
    lines += [f"{share(n, total)}  {name}" for name, n in threads.most_common(8)]
    if main_ms_per_event is not None:
        lines += ["", f"main thread CPU measured from /proc: {main_ms_per_event:.2f} ms per "
                  "event (the ms/ev figures below are shares of it)"]
    lines += ["", f"main thread ({main_total} samples) by entry point (the outermost hub or "
              "plugin frame: an exclusive split that adds up to 100%):"]
    lines += [f"{share(n, main_total)}  {name}" for name, n in entries.most_common(12)]
    lines += ["", "main thread: inclusive share by part of the path "
              "(a sample counts for every part on its stack):"]
    lines += [f"{share(parts[name], main_total)}  {name}" for name, _ in COMPONENTS
              if parts[name]]
    lines += ["", f"main thread: top {top} self-time frames (C code counts for its caller):"]
    lines += [f"{share(n, main_total)}  {name}" for name, n in leaves.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the summary of a profile file."""
    parser = argparse.ArgumentParser(description="Summarize a py-spy raw profile.")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--events", type=int, help="events processed: adds ms per event")
    parser.add_argument("--rate", type=int, default=250, help="py-spy's --rate")
    parser.add_argument("--main-ms", type=float, help="the main thread's CPU ms per event")
    args = parser.parse_args(argv)
    print(summarize(args.profile, args.top, args.events, args.rate, args.main_ms))


if __name__ == "__main__":
    main()
