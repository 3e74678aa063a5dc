"""Returnhub's end-to-end benchmark: webhooks in, messages out, against the floor.

For each sink (``file``; ``sendgrid`` against the fake SendGrid process) it measures, in one
run and with the same request set and load generator:

* the FLOOR: bench/floor.py, a bare aiohttp relay that POSTs each webhook to the provider
  process and answers, storing nothing;
* the HUB: ``returnhub --config FILE serve`` in a fresh temporary folder with a fresh database
  (SQLite, or a scratch PostgreSQL database with ``--db postgres``).

N uniquely-ided, correctly signed webhooks (each a new return whose ``approved`` stage sends
exactly one email) are replayed once each by wrk; then the benchmark waits until every
acknowledged event has its message at the provider and reads the hub's database. It prints a
table and writes bench/results/bench-<time>.json. See docs/performance.md.

    .venv/bin/python bench/run.py                 # 20,000 events, every available sink, SQLite
    .venv/bin/python bench/run.py --quick         # 3,000 events: a smoke run
    .venv/bin/python bench/run.py --db sqlite postgres --sink sendgrid --profile
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import hubconf, hubdb, loadgen, profiling  # noqa: E402
from bench.measure import (  # noqa: E402
    Measurement,
    analyse_floor,
    analyse_hub,
    analyse_ingest,
    best_of,
    ratio_rows,
)
from bench.procs import CpuWatch, Managed, ProcessGroup, wait_for_quiet  # noqa: E402
from bench.report import format_table  # noqa: E402
from bench.targets import SENDGRID_KEY, TARGETS, Target, sendgrid_problem  # noqa: E402
from bench.webhooks import EventSet, new_secret  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
#: Share of the machine's CPU used by other processes above which a measurement is flagged.
FOREIGN_CPU_WARNING = 0.05
PG_ADMIN_DSN = os.environ.get("RETURNHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class BenchError(RuntimeError):
    """A measurement could not be completed."""


@dataclass(slots=True)
class Context:
    """What every measurement of one run shares."""

    args: argparse.Namespace
    wrk: str
    events: EventSet
    tmp: Path
    stamp: str
    outbox_base: Path | None
    trial: int = 1

    def work_dir(self, *parts: str) -> Path:
        """A fresh folder for one measurement."""
        path = self.tmp.joinpath("-".join([f"t{self.trial}", *parts]))
        path.mkdir(parents=True)
        return path


def wait_for_count(count_now: Callable[[], int], expected: int, watched: Managed, *,
                   timeout: float, stall: float) -> int:
    """Poll ``count_now`` (messages at the provider, receipts recorded...) until it reaches
    ``expected``; stop early when it does not move for ``stall`` seconds or ``watched`` (the
    hub or relay) dies."""
    deadline = time.monotonic() + timeout
    count, last_change, last_count = 0, time.monotonic(), -1
    while time.monotonic() < deadline:
        count = count_now()
        if count >= expected:
            return count
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > stall:
            break
        if not watched.alive():
            raise BenchError(f"{watched.name} died while delivering:\n{watched.tail()}")
        time.sleep(0.1)
    return count


def run_floor(ctx: Context, sink: str) -> Measurement:
    """The bare relay in front of the same provider."""
    work = ctx.work_dir("floor", sink)
    result = Measurement(label=f"floor  {sink}", kind="floor", sink=sink, db=None,
                         events=len(ctx.events))
    watch = CpuWatch()
    with ProcessGroup(work, ctx.args.nice) as group, _target(ctx, sink, group, work) as target:
        target.start(floor=True)
        mode, upstream = target.floor_upstream()
        relay = group.start("floor", [sys.executable, "-m", "bench.floor", "--upstream",
                                      upstream, "--mode", mode, "--api-key", SENDGRID_KEY],
                            cwd=ROOT)
        base = relay.wait_for_line(r"floor listening on (http://\S+)", timeout=30).group(1)
        ready_cpu, ready_sys = relay.cpu_seconds(), relay.system_seconds()
        ready_threads = [relay.thread_cpu()]
        requests = ctx.events.write_signed(work / "requests.tsv", new_secret())
        load = _replay(ctx, group, f"{base}/webhooks/bench", requests, work)
        wait_for_count(target.delivered_count, load.accepted, relay, timeout=ctx.args.timeout,
                       stall=ctx.args.stall)
        _resources(result, [relay], group, watch, load.accepted, ready_cpu, ready_sys)
        result.main_thread_share = _main_thread_share([relay], ready_threads)
        group.stop(relay)
        deliveries = target.deliveries()
    return analyse_floor(result, load, deliveries, ctx.events)


#: How the hub runs: one process (ingress and workers), ingress and a worker process
#: (``serve --no-workers`` + ``worker``, sharing the database), or ingress alone (no delivery:
#: measures the webhook-to-inbox path by itself).
LAYOUTS = ("one", "split", "ingest")


def run_hub(ctx: Context, sink: str, db: str, layout: str = "one",
            tree: str | None = None, workers: int = 1) -> Measurement:
    """The hub with a fresh database and data folder (run from ``tree`` when given); with
    ``layout="split"``, one ingress process and ``workers`` worker processes."""
    shape = f"split x{workers}" if layout == "split" else layout
    suffix = "" if layout == "one" else f" ({shape})"
    if tree:
        suffix += f" [{Path(tree).name}]"
    work = ctx.work_dir("hub", db, sink, shape.replace(" ", ""),
                        Path(tree).name if tree else "tree")
    result = Measurement(label=f"hub    {sink} {db}{suffix}", kind="hub", sink=sink, db=db,
                         events=len(ctx.events), workers=workers if layout == "split" else None)
    database = (hubconf.scratch_postgres(ctx.args.pg_dsn) if db == "postgres"
                else contextlib.nullcontext(hubconf.sqlite_url(work)))
    watch = CpuWatch("postgres" if db == "postgres" else None)
    with database as db_url, ProcessGroup(work, ctx.args.nice) as group, \
            _target(ctx, sink, group, work) as target:
        target.start(floor=False)
        secret = new_secret()
        config = hubconf.write_config(work / "returnhub.toml", hubconf.hub_config(
            work, db_url=db_url, sink=target.sink_config(), secret=secret,
            sqlite_synchronous=ctx.args.sqlite_synchronous,
            allow_loopback=hubconf.knows_setting(Path(tree) if tree else ROOT,
                                                 "outbound_allow")))
        programs, base = _start_hub(ctx, group, config, work, sink, layout, tree, workers)
        receipts = (layout != "ingest" and not ctx.args.no_receipts
                    and target.report_status_to(base))
        ready_cpu = sum(program.cpu_seconds() for program in programs)
        ready_sys = sum(program.system_seconds() for program in programs)
        ready_threads = [program.thread_cpu() for program in programs]
        watch.server_at_ready = watch.server_seconds()
        profilers = _start_profilers(ctx, group, programs, "-".join(
            [db, sink, layout, *([Path(tree).name] if tree else [])]), result)
        requests = ctx.events.write_signed(work / "requests.tsv", secret)
        load = _replay(ctx, group, f"{base}/webhooks/{hubconf.SOURCE_NAME}", requests, work)
        if layout != "ingest":
            wait_for_count(target.delivered_count, load.accepted, programs[-1],
                           timeout=ctx.args.timeout, stall=ctx.args.stall)
            _wait_recorded(db_url, load.accepted, programs[-1])
            if receipts:
                # the provider's status webhooks, recorded by the hub
                wait_for_count(lambda: hubdb.delivered_count(db_url), load.accepted,
                               programs[0], timeout=ctx.args.timeout, stall=ctx.args.stall)
        for profiler, _ in profilers:
            profiling.stop(group, profiler)
        _resources(result, programs, group, watch, load.accepted, ready_cpu, ready_sys)
        result.main_thread_share = _main_thread_share(programs, ready_threads)
        for program in reversed(programs):
            code = group.stop(program, timeout=30)
            if code not in (0, None):
                result.notes.append(f"{program.name} exited with {code} on SIGTERM")
            result.notes.extend(_log_problems(program))
        facts = hubdb.read_facts(db_url)
        deliveries = target.deliveries()
    for _, path in profilers:
        if path.exists():
            main_ms = (result.cpu_ms_per_event * result.main_thread_share
                       if len(programs) == 1 and result.cpu_ms_per_event
                       and result.main_thread_share else None)
            path.with_suffix(".summary.txt").write_text(profiling.summarize(
                path, events=load.accepted, main_ms_per_event=main_ms) + "\n")
            result.notes.append(f"profile: {path.relative_to(ROOT)} (+ .summary.txt)")
    if layout == "ingest":
        return analyse_ingest(result, load, ctx.events, facts)
    return analyse_hub(result, load, deliveries, ctx.events, facts)


def _start_hub(ctx: Context, group: ProcessGroup, config: Path, work: Path, sink: str,
               layout: str, tree: str | None, workers: int = 1) -> tuple[list[Managed], str]:
    """Start the hub's process(es); returns them (ingress first) and the ingress URL."""
    env = _hub_env(ctx, work, sink, tree)
    command = [sys.executable, "-m", "hub.cli", "--config", str(config)]
    # split: one ingress process beside the worker processes, as in the runs before `serve`
    # used every core (comparable with them).
    serve = ["serve"] if layout == "one" else ["serve", "--no-workers", *(
        ["--processes", "1"] if _knows_processes(tree) else [])]
    hub = group.start("hub", [*command, *serve], cwd=work, env=env)
    base = hub.wait_for_line(r"returnhub listening on (http://\S+)", timeout=90).group(1)
    programs = [hub]
    if layout == "split":
        started = [group.start(f"hub-worker{n}", [*command, "worker"], cwd=work, env=env)
                   for n in range(1, workers + 1)]
        deadline = time.monotonic() + 90
        for worker in started:
            while "hub_started" not in worker.stderr_path.read_text(errors="replace"):
                if not worker.alive() or time.monotonic() > deadline:
                    raise BenchError(f"{worker.name} did not start:\n{worker.tail()}")
                time.sleep(0.1)
        programs += started
    return programs, base


def _start_profilers(ctx: Context, group: ProcessGroup, programs: list[Managed], name: str,
                     result: Measurement) -> list[tuple[Managed, Path]]:
    """py-spy on every hub process when --profile was given."""
    if not ctx.args.profile:
        return []
    started = []
    for program in programs:
        path = RESULTS_DIR / f"{ctx.stamp}-t{ctx.trial}-{program.name}-{name}.profile.txt"
        profiler = profiling.start(group, program.pid, path)
        if profiler is None:
            result.notes.append("py-spy is not installed: .venv/bin/pip install py-spy")
            return []
        started.append((profiler, path))
    time.sleep(0.5)  # let py-spy attach before the load starts
    return started


@contextlib.contextmanager
def _target(ctx: Context, sink: str, group: ProcessGroup, work: Path) -> Iterator[Target]:
    target = TARGETS[sink](group, work, ctx.outbox_base)
    try:
        yield target
    finally:
        target.cleanup()


def _resources(result: Measurement, programs: list[Managed], group: ProcessGroup,
               watch: CpuWatch, acked: int, cpu_at_ready: float, sys_at_ready: float) -> None:
    """Peak RSS (summed over the program's processes) and CPU per event of the program under
    test; how busy the rest of the machine was meanwhile (other processes skew every number:
    they are flagged)."""
    peaks = [program.read_peak_rss() for program in programs]
    result.peak_rss_mb = round(sum(peaks) / 1024, 1) if all(peaks) else None
    largest = [program.largest_rss_kb for program in programs]
    result.largest_rss_mb = round(max(largest) / 1024, 1) if all(largest) else None
    if acked:
        # start-up (imports, migrations) excluded
        used = sum(program.cpu_seconds() for program in programs) - cpu_at_ready
        result.cpu_ms_per_event = round(used * 1000 / acked, 3)
        kernel = sum(program.system_seconds() for program in programs) - sys_at_ready
        result.cpu_kernel_share = round(kernel / used, 3) if used > 0 else None
    foreign, share = watch.foreign_share(group)
    if watch.server and acked:
        used = watch.server_seconds() - watch.server_at_ready
        result.db_server_cpu_ms_per_event = round(used * 1000 / acked, 3)
    result.foreign_cpu_share = round(share, 3)
    if share > FOREIGN_CPU_WARNING:
        result.notes.append(f"other processes used {foreign:.1f} CPU-s ({share:.0%} of the "
                            "machine) during this measurement: its numbers are low")


def _main_thread_share(programs: list[Managed], before: list[dict[int, float]]) -> float | None:
    """How much of the programs' CPU since ``before`` their main (event-loop) threads used;
    the rest is other threads: aiosqlite's connection threads, asyncio.to_thread workers."""
    main = rest = 0.0
    for program, start in zip(programs, before, strict=True):
        for tid, seconds in program.thread_cpu().items():
            used = seconds - start.get(tid, 0.0)
            if tid == program.pid:
                main += used
            else:
                rest += used
    return round(main / (main + rest), 3) if main + rest > 0 else None


def _replay(ctx: Context, group: ProcessGroup, url: str, requests: Path,
            work: Path) -> loadgen.LoadResult:
    return loadgen.replay(group, ctx.wrk, url=url, request_file=requests,
                          count=len(ctx.events), work_dir=work, threads=ctx.args.threads,
                          connections=ctx.args.connections, timeout=ctx.args.timeout)


def _wait_recorded(db_url: str, expected: int, hub: Managed, timeout: float = 60.0) -> None:
    """Messages are at the provider; wait (bounded) until the hub has committed their
    outcomes, so that sent_at is there for every one of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and hub.alive():
        if hubdb.sent_count(db_url) >= expected:
            return
        time.sleep(0.2)


def _knows_processes(tree: str | None) -> bool:
    """Whether the hub in ``tree`` (None: the installed one) has ``server.processes`` (older
    commits refuse the setting)."""
    config = Path(tree).resolve() if tree else ROOT
    return "processes" in (config / "hub" / "config.py").read_text(encoding="utf-8")


def _hub_env(ctx: Context, work: Path, sink: str, tree: str | None) -> dict[str, str]:
    env = {**os.environ}
    if ctx.args.profile and _knows_processes(tree):
        # py-spy samples one process: a profiled hub runs as one (its per-event cost is the
        # same; --hub-env can still say otherwise).
        env["RETURNHUB_SERVER__PROCESSES"] = "1"
    for item in ctx.args.hub_env:
        key, _, value = item.partition("=")
        env[key] = value
    paths = []
    if tree:  # another checkout (e.g. an export of one commit) shadows the installed one
        root = Path(tree).resolve()
        paths += [str(root), str(root / "plugins")]
    shim = hubconf.plugin_shim(work, sink)
    if shim is not None:
        paths.append(str(shim))
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, env.get("PYTHONPATH")]))
    return env


def _log_problems(hub: Managed) -> list[str]:
    """Warnings and errors the hub logged (JSON lines on stderr)."""
    levels: dict[str, list[str]] = {}
    for line in hub.stderr_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            levels.setdefault(entry["level"], []).append(str(entry.get("event")))
    return [f"hub logged {len(names)} {level}s, e.g. {sorted(set(names))[:5]}"
            for level, names in levels.items()]


def _outbox_base(args: argparse.Namespace) -> Path | None:
    """tmpfs for the file outboxes unless told otherwise (see docs/performance.md)."""
    if args.outbox_dir == "disk":
        return None
    path = Path(args.outbox_dir)
    return path if path.is_dir() and os.access(path, os.W_OK) else None


def choose_sinks(wanted: list[str]) -> tuple[list[str], list[str]]:
    """The sinks to measure, and notes about the ones skipped."""
    problem = sendgrid_problem()
    if "auto" in wanted:
        return (["file"], [f"sendgrid skipped: {problem}"]) if problem else (["sendgrid"], [])
    if "all" in wanted:
        wanted = ["file", "sendgrid"]
        if problem:
            return ["file"], [f"sendgrid skipped: {problem}"]
        return wanted, []
    if "sendgrid" in wanted and problem:
        raise BenchError(f"--sink sendgrid is not available: {problem}")
    return list(dict.fromkeys(wanted)), []


def metadata(ctx: Context, skipped: list[str]) -> dict:
    """Machine, versions and options, for the results file."""
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                timeout=10, check=False)
        return result.stdout.strip()

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(), "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(), "wrk": loadgen.wrk_version(ctx.wrk),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty_files": len(git("status", "--porcelain").splitlines()),
        "events": len(ctx.events), "threads": ctx.args.threads,
        "connections": ctx.args.connections, "sqlite_synchronous": ctx.args.sqlite_synchronous,
        "nice": ctx.args.nice, "repeat": ctx.args.repeat,
        "hub_env": ctx.args.hub_env, "skipped": skipped,
        "outbox": str(ctx.outbox_base or "temp dir (disk)"), "tmp": str(ctx.tmp),
        "hub_trees": {tree: _tree_commit(tree) for tree in ctx.args.hub_tree},
    }


def _tree_commit(tree: str) -> str | None:
    """The commit of a checkout; for an export, the first line of its COMMIT file if any."""
    result = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, timeout=10, check=False)
    marker = Path(tree) / "COMMIT"
    if result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip()
    return marker.read_text().splitlines()[0].strip() if marker.exists() else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="webhooks per measurement")
    parser.add_argument("--quick", action="store_true", help="3,000 events (a smoke run)")
    parser.add_argument("--sink", nargs="+", choices=("file", "sendgrid", "all", "auto"),
                        default=["auto"], help="sinks to measure; auto (default): sendgrid "
                        "when its plugin and fake are there, else file; all: both")
    parser.add_argument("--db", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"])
    parser.add_argument("--layout", nargs="+", choices=LAYOUTS, default=["one"],
                        help="one: `serve` (ingress + workers, the default); split: `serve "
                        "--no-workers` + `worker` processes; ingest: ingress alone, nothing "
                        "delivered (the webhook-to-inbox path by itself)")
    parser.add_argument("--workers", nargs="+", type=int, default=[1], metavar="N",
                        help="worker processes for --layout split, each count its own "
                        "configuration (e.g. 1 2 4)")
    parser.add_argument("--no-receipts", action="store_true",
                        help="the provider sends no status webhooks back (the path stops at "
                        "the provider, as in runs before the status feed existed)")
    parser.add_argument("--no-floor", action="store_true", help="measure the hub only")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure every configuration this many times, interleaved; the "
                        "table shows each one's best trial (other processes only ever slow a "
                        "trial down), the JSON every trial")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--sqlite-synchronous", choices=("FULL", "NORMAL"), default="FULL",
                        help="the hub's SQLite fsync policy (FULL: durable, the default)")
    parser.add_argument("--outbox-dir", default="/dev/shm",  # noqa: S108 (tmpfs on purpose)
                        help="where file outboxes are written (default tmpfs: creating a file "
                        "on this VM's disk costs 0.05-2 ms at random); 'disk': the temp dir")
    parser.add_argument("--hub-env", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="environment for the hub, e.g. RETURNHUB_WORKER__CONCURRENCY=128")
    parser.add_argument("--hub-tree", metavar="DIR", nargs="+", default=[],
                        help="run the hub from these checkouts instead of the installed one, "
                        "each as its own configuration (e.g. `git archive HEAD | tar -x -C "
                        "/tmp/rh`): measures a commit while the work tree is being edited, or "
                        "compares variants in one run")
    parser.add_argument("--pg-dsn", default=PG_ADMIN_DSN,
                        help="admin DSN used to create/drop the scratch database")
    parser.add_argument("--profile", action="store_true",
                        help="sample the hub with py-spy; writes bench/results/*.profile.txt")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="longest load or delivery phase, seconds")
    parser.add_argument("--stall", type=float, default=30.0,
                        help="give up waiting for deliveries after this long without one")
    parser.add_argument("--quiet-wait", type=float, default=20.0,
                        help="before each measurement, wait up to this long for other "
                        "processes to leave the CPUs idle (0: don't)")
    parser.add_argument("--nice", type=int, default=0,
                        help="scheduling priority of every process the benchmark starts, e.g. "
                        "-10 (root) on a machine shared with other people's test runs")
    parser.add_argument("--install-wrk", action="store_true",
                        help=f"run `{loadgen.INSTALL_COMMAND}` if wrk is missing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 3_000
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every configuration; print the table; write the JSON; 1 if anything failed."""
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every process group and scratch database is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        wrk = loadgen.ensure_wrk(args.install_wrk)
        sinks, skipped = choose_sinks(args.sink)
    except (loadgen.LoadGenError, BenchError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    events = EventSet.build(args.events)
    results: list[Measurement] = []
    tmp = Path(tempfile.mkdtemp(prefix="returnhub-bench-"))
    ctx = Context(args, wrk, events, tmp, stamp, _outbox_base(args))
    try:
        for trial, sink in ((t, sink) for t in range(1, args.repeat + 1) for sink in sinks):
            ctx.trial = trial
            jobs = [] if args.no_floor else [("floor", None, None, None, 1)]
            jobs += [("hub", db, layout, tree, workers) for db in args.db
                     for layout in args.layout for tree in (args.hub_tree or [None])
                     for workers in (args.workers if layout == "split" else [1])]
            for kind, db, layout, tree, workers in jobs:
                label = f"{kind} {sink}" + (f" {db} {layout}" if db else "") + (
                    f" x{workers}" if layout == "split" else "") + (f" [{tree}]" if tree else "")
                if args.quiet_wait > 0:
                    share = wait_for_quiet(args.quiet_wait)
                    if share >= 0.15:
                        print(f"bench: the machine is still {share:.0%} busy with other "
                              "processes; measuring anyway", file=sys.stderr)
                print(f"bench: measuring {label} ({len(events):,} events, trial {trial}/"
                      f"{args.repeat})...", file=sys.stderr, flush=True)
                try:
                    result = (run_floor(ctx, sink) if kind == "floor"
                              else run_hub(ctx, sink, db, layout, tree, workers))
                except Exception as exc:  # one broken configuration must not stop the rest
                    print(f"bench: {label} failed: {type(exc).__name__}: {exc}",
                          file=sys.stderr)
                    result = Measurement(label=label, kind=kind, sink=sink, db=db,
                                         events=len(events), error=str(exc)[:2000])
                result.trial = trial
                results.append(result)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False, timeout=120)
        else:
            print(f"bench: kept {tmp}", file=sys.stderr)
    meta = metadata(ctx, skipped)
    best = best_of(results)
    ratios = ratio_rows(best)
    print(format_table(meta, best, ratios))
    output = RESULTS_DIR / f"bench-{stamp}.json"
    output.write_text(json.dumps({"meta": meta, "best": [r.as_dict() for r in best],
                                  "ratios": ratios, "trials": [r.as_dict() for r in results]},
                                 indent=2) + "\n")
    print(f"\nresults: {output.relative_to(ROOT)}")
    failed = any(r.error or r.missing or r.duplicates or r.unexpected for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
