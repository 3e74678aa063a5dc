"""Child processes that are always stopped: output to files (never a pipe that can fill up),
readiness by waiting for a line, peak memory from /proc, and a group that stops every member
on exit, whatever happened."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path


class ProcessError(RuntimeError):
    """A child did not start, or died before it was ready."""


class Managed:
    """One child process; stdout and stderr go to ``<log_dir>/<name>.out`` / ``.err``.

    It runs in its own session, so a Ctrl-C at the terminal reaches only the benchmark, which
    then stops its children in order.
    """

    def __init__(self, name: str, argv: list[str], *, log_dir: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, nice: int = 0) -> None:
        self.name = name
        self.nice = nice
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        self.process: subprocess.Popen | None = None
        #: VmHWM read just before the process was stopped (kB), if it was read.
        self.peak_rss_kb: int | None = None
        #: The peak of its largest single process (the target is per process).
        self.largest_rss_kb: int | None = None
        self._cpu = 0.0
        self._sys = 0.0

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self.process is None:
            raise ProcessError(f"{self.name} was not started")
        return self.process.pid

    def start(self) -> Managed:
        """Start the process."""
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            # Scheduling priority (negative needs root): on a shared machine, other people's
            # test runs then take CPU from the benchmark far less. nice(1) execs the program,
            # so the pid stays the program's and every thread it starts inherits the priority.
            argv = ["nice", "-n", str(self.nice), *self.argv] if self.nice else self.argv
            self.process = subprocess.Popen(argv, stdout=out, stderr=err, cwd=self.cwd,
                                            env=self.env, start_new_session=True)
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match:
        """Wait until stdout has a line matching ``pattern``; ProcessError on exit or timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                match = regex.search(line)
                if match:
                    return match
            if not self.alive():
                raise ProcessError(f"{self.name} exited with {self.process.returncode} before "
                                   f"it was ready; see {self.stderr_path}:\n{self.tail()}")
            time.sleep(0.05)
        raise ProcessError(f"{self.name} was not ready within {timeout:g}s; see "
                           f"{self.stderr_path}:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        """The last lines of stderr, for error messages."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (the last value read once it has exited)."""
        if self.process is not None and self.process.returncode is None:
            # Not reaped yet: /proc has it even when it has just exited (a zombie). A
            # multi-process ``serve`` counts its children too (hub.supervisor).
            splits = [process_cpu_split(pid) for pid in process_tree(self.pid)]
            user, system = sum(u for u, _ in splits), sum(s for _, s in splits)
            if user or system:
                self._cpu, self._sys = user + system, system
        return self._cpu

    def thread_cpu(self) -> dict[int, float]:
        """CPU seconds per live thread id (the main thread's id is the pid)."""
        found = {}
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{self.pid}/task")]
        except (OSError, ProcessError):
            return found
        for tid in tids:
            try:
                fields = Path(f"/proc/{self.pid}/task/{tid}/stat").read_text().rsplit(
                    ")", 1)[1].split()
            except OSError:
                continue
            found[tid] = (int(fields[11]) + int(fields[12])) / _TICKS
        return found

    def system_seconds(self) -> float:
        """The kernel part of :meth:`cpu_seconds` (syscalls: sockets, fsync, futexes)."""
        self.cpu_seconds()
        return self._sys

    def read_peak_rss(self) -> int | None:
        """VmHWM (peak resident set, kB) from /proc, summed over the process and its
        children; None when not readable."""
        try:
            tree = process_tree(self.pid)
        except ProcessError:
            return None
        peaks = []
        for pid in tree:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
            if match:
                peaks.append(int(match.group(1)))
        if peaks:
            self.peak_rss_kb = sum(peaks)
            self.largest_rss_kb = max(peaks)
        return self.peak_rss_kb

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
        if self.process is None:
            return None
        if self.alive():
            self.read_peak_rss()
            self.cpu_seconds()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/<pid>/task/<tid>/children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                pending += [int(c) for c in
                            Path(f"/proc/{current}/task/{task}/children").read_text().split()]
            except OSError:
                continue
    return found


def process_cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process in seconds, from /proc/<pid>/stat (zeros when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core has spent running processes since boot (user, nice, system),
    from /proc/stat. Interrupt time is left out: loopback networking is done in softirq on
    behalf of the benchmark's own processes but is not in their utime/stime."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system = (int(v) for v in fields[:3])
    return (user + nice + system) / _TICKS


def named_cpu_seconds(name: str) -> dict[int, float]:
    """CPU seconds of every process whose command name is ``name`` (e.g. the PostgreSQL
    server's processes, which are not the benchmark's children but work for the hub)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if text[text.find("(") + 1:text.rfind(")")] == name:
            fields = text.rsplit(")", 1)[1].split()
            found[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS
    return found


class CpuWatch:
    """How much CPU processes outside the benchmark used during a measurement: the machine's
    busy time minus the benchmark's own (this process and its children) and minus the
    database server's (``server`` processes: PostgreSQL works for the hub under test)."""

    def __init__(self, server: str | None = None) -> None:
        self.server = server
        self.server_start = named_cpu_seconds(server) if server else {}
        #: server_seconds() when the program under test became ready (set by the caller)
        self.server_at_ready = 0.0
        self.machine_start = machine_busy_seconds()
        self.self_start = _own_cpu()
        self.wall_start = time.monotonic()

    def server_seconds(self) -> float:
        """CPU the database server's processes used since the start (0 without a server)."""
        if not self.server:
            return 0.0
        now = named_cpu_seconds(self.server)
        return sum(seconds - self.server_start.get(pid, 0.0) for pid, seconds in now.items())

    def foreign_share(self, group: ProcessGroup) -> tuple[float, float]:
        """(CPU seconds used by other processes, their share of all cores' time)."""
        machine = machine_busy_seconds() - self.machine_start
        ours = group.cpu_seconds() + _own_cpu() - self.self_start + self.server_seconds()
        wall = time.monotonic() - self.wall_start
        foreign = max(0.0, machine - ours)
        return foreign, foreign / max(wall * (os.cpu_count() or 1), 1e-9)


def wait_for_quiet(max_wait: float, threshold: float = 0.15, settle: int = 2) -> float:
    """Wait until the machine is idle (busy share of all cores below ``threshold`` for
    ``settle`` consecutive seconds) or ``max_wait`` seconds passed; returns the last share.
    Other people's test runs on a shared machine otherwise land inside a measurement."""
    deadline = time.monotonic() + max_wait
    quiet, share = 0, 1.0
    cores = os.cpu_count() or 1
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        share = (machine_busy_seconds() - before) / cores
        quiet = quiet + 1 if share < threshold else 0
        if quiet >= settle or time.monotonic() >= deadline:
            return share


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


class ProcessGroup:
    """Context manager: every process started through it is stopped on exit, newest first."""

    def __init__(self, log_dir: Path, nice: int = 0) -> None:
        self.log_dir = log_dir
        self.nice = nice
        self.members: list[Managed] = []
        self.stopped: list[Managed] = []

    def start(self, name: str, argv: list[str], *, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> Managed:
        """Start and register a child."""
        child = Managed(name, argv, log_dir=self.log_dir, cwd=cwd, env=env, nice=self.nice)
        self.members.append(child)
        return child.start()

    def stop(self, child: Managed, timeout: float = 20.0) -> int | None:
        """Stop one child now."""
        code = child.stop(timeout)
        if child in self.members:
            self.members.remove(child)
            self.stopped.append(child)
        return code

    def cpu_seconds(self) -> float:
        """CPU used by every child started through the group, running or stopped."""
        return sum(child.cpu_seconds() for child in [*self.members, *self.stopped])

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self.members:
            self.stop(self.members[-1], timeout=10)
