"""The load generator: wrk (C, event loop, one core) replaying the pre-signed request file
through bench/wrk_replay.lua, each request exactly once.

A Python client saturates near 6,000 req/s on the machines this runs on (see
shared/reference/performance-floor.md), which is above what is measured here but close
enough to bend the numbers; wrk is used so that the client is never the bottleneck.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.procs import ProcessGroup

SCRIPT = Path(__file__).resolve().parent / "wrk_replay.lua"
INSTALL_COMMAND = "apt-get update && apt-get install -y wrk"


class LoadGenError(RuntimeError):
    """wrk is missing or did not report."""


def ensure_wrk(install: bool) -> str:
    """The wrk executable; installs it with apt-get when ``install`` (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if install:
        subprocess.run(["bash", "-c", f"{INSTALL_COMMAND} >/dev/null"], check=True,
                       timeout=600, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("wrk")
        if found:
            return found
    raise LoadGenError(f"wrk is not installed. Install it with:\n    {INSTALL_COMMAND}\n"
                       "(as root), or run the benchmark with --install-wrk.")


def wrk_version(wrk: str) -> str:
    """wrk's first version line, for the results file."""
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10,
                            check=False)
    return (result.stdout or result.stderr).splitlines()[0].strip() if (
        result.stdout or result.stderr) else "unknown"


@dataclass(slots=True)
class LoadResult:
    """What one replay gave, from the client's side."""

    requests: int
    accepted: int          #: 202 answers
    duplicate: int         #: 200 answers
    failed: int            #: any other status
    socket_errors: int     #: connect/read/write errors and timeouts, per wrk
    extra: int             #: requests re-sent after a reconnect (0 in a clean run)
    started_at: float      #: wall clock of the first request (s)
    finished_at: float     #: wall clock of the last response (s)
    latency_us: dict[str, float]
    complete: bool         #: every request got a response
    raw: dict[str, Any] = field(default_factory=dict)
    client_cpu: float = 0.0  #: wrk's CPU seconds

    @property
    def seconds(self) -> float:
        """From the first request to the last response."""
        return max(self.finished_at - self.started_at, 1e-9)


def replay(group: ProcessGroup, wrk: str, *, url: str, request_file: Path, count: int,
           work_dir: Path, threads: int = 1, connections: int = 64,
           timeout: float = 300.0) -> LoadResult:
    """POST every request of ``request_file`` to ``url`` once; return the client's view.

    wrk's own duration is only an upper bound: the script stops each thread when its share is
    answered and writes a marker file; this function then interrupts wrk, which prints the
    summary. The rate is computed from the script's wall-clock times, not wrk's duration.
    """
    markers = work_dir / "markers"
    shutil.rmtree(markers, ignore_errors=True)
    markers.mkdir(parents=True)
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    base = url[: len(url) - len(path)]
    env = {**os.environ, "BENCH_REQUESTS": str(request_file), "BENCH_PATH": path,
           "BENCH_THREADS": str(threads), "BENCH_MARKERS": str(markers)}
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{int(timeout) + 5}s", "--timeout", "60s",
            "-s", str(SCRIPT), base]
    child = group.start("wrk", argv, env=env)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and child.alive():
            if len(list(markers.glob("done.*"))) >= threads:
                break
            time.sleep(0.02)
        child.cpu_seconds()
        if child.alive():
            child.process.send_signal(signal.SIGINT)  # wrk prints its summary and exits
            try:
                child.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
    finally:
        group.stop(child, timeout=5)
    report = _parse(child.stdout_path)
    if report is None:
        raise LoadGenError(f"wrk printed no BENCH_JSON line; see {child.stdout_path} and "
                           f"{child.stderr_path}:\n{child.tail()}")
    result = _result(report, count)
    result.client_cpu = child.cpu_seconds()
    return result


def _parse(stdout: Path) -> dict[str, Any] | None:
    for line in stdout.read_text(errors="replace").splitlines():
        if line.startswith("BENCH_JSON "):
            return orjson.loads(line.removeprefix("BENCH_JSON "))
    return None


def _result(report: dict[str, Any], count: int) -> LoadResult:
    threads = report["threads"]
    errors = report["errors"]
    received = sum(t["received"] for t in threads)
    started = [t["started_at"] for t in threads if t["started_at"]]
    finished = [t["finished_at"] for t in threads if t["finished_at"]]
    return LoadResult(
        requests=sum(min(t["sent"], t["quota"]) for t in threads),
        accepted=sum(t["accepted"] for t in threads),
        duplicate=sum(t["duplicate"] for t in threads),
        failed=sum(t["failed"] for t in threads),
        socket_errors=sum(errors.values()) - errors["status"],
        extra=sum(t["extra"] for t in threads),
        started_at=min(started) if started else 0.0,
        finished_at=max(finished) if len(finished) == len(threads) else time.time(),
        latency_us={k: float(v) for k, v in report["latency_us"].items()},
        complete=received >= count and len(finished) == len(threads),
        raw=report,
    )
