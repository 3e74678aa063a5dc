"""``returnhub serve`` on several cores: one parent, N child processes on one port.

The parent migrates the database once (its configuration was read already), then starts N
``returnhub serve --processes 1`` children that each bind the same address with
``SO_REUSEPORT`` (the kernel spreads connections over them) and run ingress and workers. It
prints the one ``listening`` line when every child listens. Children die with the parent,
even under ``kill -9`` (:func:`hub.serve.die_with_parent`). SIGTERM or SIGINT stops every
child cleanly; a child that dies on its own stops the others and the parent exits non-zero,
for the service manager to restart the whole (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import ConfigError
from hub.logs import get_logger
from hub.store.engine import in_memory_sqlite

if TYPE_CHECKING:
    from hub.config import Settings

log = get_logger("hub.supervisor")

#: How long a stopping child may take to finish its sends before it is killed.
STOP_TIMEOUT_SECONDS = 60.0


def cores() -> int:
    """The cores this process may run on: the CPUs it is pinned to, capped by a cgroup CPU
    quota (a container limited to 2 CPUs on a 32-core host gets 2)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    return max(1, min(count, math.ceil(quota))) if quota else count


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the cgroup may use (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``); None when
    unlimited or unknown."""
    with contextlib.suppress(OSError, ValueError):
        quota, *period = (root / "cpu.max").read_text().split()
        if quota != "max":
            return int(quota) / int(period[0] if period else 100_000)
        return None
    with contextlib.suppress(OSError, ValueError):
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    return None


def resolve_processes(setting: int | str, override: int | None, database_url: str) -> int:
    """How many processes ``serve`` runs: ``--processes`` if given, else ``server.processes``;
    0 or "auto" means one per core, on SQLite too (docs/performance.md, *Processes*), except
    an in-memory SQLite database, which a second process could not see."""
    value = setting if override is None else override
    if isinstance(value, int) and value < 0:
        raise ConfigError([f"server.processes: must be 0, \"auto\" or a positive count, "
                           f"not {value}"])
    if value in (0, "auto"):
        return 1 if in_memory_sqlite(database_url) else cores()
    return int(value)


def _reserve_port(host: str) -> socket.socket:
    """A socket bound to a free port with SO_REUSEPORT, so that every child can bind the same
    port (``server.port = 0``); kept open until they listen, never listening itself."""
    family = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


def _prepare(config: str | None) -> int:
    """Before any child runs, in a short-lived ``returnhub serve --prepare-only``
    (:func:`hub.serve.prepare_node`; the supervisor never loads the hub, so it stays small):
    build the hub as a single-process ``serve`` would (a broken sink or rule stops here,
    before the shared database is migrated), which makes the embedded default's generated
    keys once (children starting together would race for them), then migrate once. Its exit
    code."""
    argv = [sys.executable, "-m", "hub.cli", *(["--config", config] if config else []),
            "serve", "--prepare-only"]
    # This interpreter running this package: no input of anyone's in the command.
    return subprocess.run(argv, stdout=subprocess.DEVNULL, check=False).returncode  # noqa: S603


def supervise(settings: Settings, processes: int, *, config: str | None,
              workers: bool) -> int:
    """Run ``processes`` serve children until a signal (exit 0) or until one dies (exit
    non-zero after stopping the others)."""
    prepared = _prepare(config)
    if prepared != 0:
        return prepared
    host = settings.server.host
    reserved = _reserve_port(host) if settings.server.port == 0 else None
    port = reserved.getsockname()[1] if reserved else settings.server.port
    ready_r, ready_w = os.pipe()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {signum: signal.signal(signum, on_signal)
                for signum in (signal.SIGTERM, signal.SIGINT)}
    signal.set_wakeup_fd(wake_w)
    argv = [sys.executable, "-m", "hub.cli", *(["--config", config] if config else []),
            "serve", "--host", host, "--port", str(port), "--processes", "1",
            "--child-of", str(os.getpid()), "--ready-fd", str(ready_w),
            "--siblings", str(processes),
            *([] if workers else ["--no-workers"])]
    # Started from this (the main) thread: PR_SET_PDEATHSIG fires when the creating *thread*
    # ends, so a helper thread here would kill the children early.
    children = [subprocess.Popen(argv, pass_fds=(ready_w,))  # noqa: S603 (our own command)
                for _ in range(processes)]
    os.close(ready_w)
    try:
        code = _watch(children, ready_r, wake_r, stopping, host, port)
    finally:
        _stop(children)
        signal.set_wakeup_fd(-1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for fd in (ready_r, wake_r, wake_w):
            os.close(fd)
        if reserved is not None:
            reserved.close()
    return code


def _watch(children: list[subprocess.Popen], ready_r: int, wake_r: int, stopping: list[int],
           host: str, port: int) -> int:
    """Wait for readiness, then for a signal or a child's death; the exit code."""
    pidfds = {os.pidfd_open(child.pid): child for child in children}
    ready: set[int] = set()
    buffer = b""
    watched = [ready_r, wake_r, *pidfds]
    try:
        while not stopping:
            readable, _, _ = select.select(watched, [], [])
            if wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
            if ready_r in readable:
                chunk = os.read(ready_r, 4096)
                if not chunk:  # every child closed its end: nothing more to read
                    watched.remove(ready_r)
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                ready.update(int(line) for line in lines if line.strip())
                if len(ready) == len(children) and lines:
                    log.info("listening", url=f"http://{host}:{port}", processes=len(children),
                             pids=sorted(ready))
                    print(f"returnhub listening on http://{host}:{port} "
                          f"({len(children)} processes)", flush=True)
            dead = [child for fd, child in pidfds.items() if fd in readable
                    and child.poll() is not None]
            if dead and not stopping:
                child = dead[0]
                log.error("serve_process_died", pid=child.pid, code=child.returncode)
                return child.returncode if child.returncode > 0 else 1
        return 0
    finally:
        for fd in pidfds:
            os.close(fd)


def _stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM every live child, wait for each to finish its sends, SIGKILL the late ones."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
