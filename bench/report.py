"""The table printed at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.measure import Measurement


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _pair(values: dict[str, float | None]) -> str:
    return f"{_num(values.get('p50'), 1)} / {_num(values.get('p99'), 1)}"


def format_table(meta: dict[str, Any], results: list[Measurement],
                 ratios: list[dict[str, Any]]) -> str:
    """Header, one row per measurement, the hub/floor ratios, then notes and errors."""
    header = ("config", "ingest ev/s", "e2e ev/s", "receipt ev/s", "ack p50/p99 ms",
              "deliver p50/p99 ms", "receipt p50/p99 ms", "CPU ms/ev", "kernel", "loop",
              "peak RSS MB (sum/largest)", "acked", "delivered", "receipts", "dup", "missing")
    rows = []
    for r in results:
        if r.error:
            rows.append((r.label, "FAILED", *[""] * (len(header) - 2)))
            continue
        label = r.label + (f" (best of {r.trials})" if r.trials > 1 else "")
        rows.append((label, _num(r.ingest_eps), _num(r.e2e_eps), _num(r.receipt_eps or None),
                     _pair(r.ack_ms), _pair(r.deliver_ms), _pair(r.receipt_ms),
                     _num(r.cpu_ms_per_event, 2),
                     "-" if r.cpu_kernel_share is None else f"{r.cpu_kernel_share:.0%}",
                     "-" if r.main_thread_share is None else f"{r.main_thread_share:.0%}",
                     f"{_num(r.peak_rss_mb, 1)} / {_num(r.largest_rss_mb, 1)}",
                     f"{r.acked:,}", f"{r.delivered:,}", f"{r.receipts:,}", str(r.duplicates),
                     str(r.missing)))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple) -> str:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(cell).rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells)

    dirty = f" (+{meta['dirty_files']} changed files)" if meta["dirty_files"] else ""
    out = [f"Returnhub benchmark {meta['date']}: {meta['events']:,} events per config, "
           f"wrk -t{meta['threads']} -c{meta['connections']}, {meta['cpus']} CPUs "
           f"({meta['cpu']}), Python {meta['python']}, SQLite "
           f"synchronous={meta['sqlite_synchronous']}, checkout {meta['commit']}{dirty}"]
    if meta.get("hub_trees"):
        out.append("hub run from: " + ", ".join(
            f"{Path(tree).name} = {commit or 'unknown commit'}"
            for tree, commit in meta["hub_trees"].items()))
    out += ["", line(header), line(tuple("-" * w for w in widths))]
    out += [line(row) for row in rows]
    if ratios:
        out.append("")
        for ratio in ratios:
            e2e = "-" if ratio["e2e"] is None else f"{ratio['e2e']:.2f}"
            cpu = "-" if ratio["cpu"] is None else f"{ratio['cpu']:.2f}"
            receipt = ("" if ratio.get("receipt") is None
                       else f", with the status webhook back {ratio['receipt']:.2f}")
            out.append(f"ratio {ratio['label'].split(None, 1)[1]} / floor: "
                       f"ingest {ratio['ingest']:.2f}, end-to-end {e2e}{receipt} (goal: >= "
                       f"0.50); floor CPU per event / hub's {cpu}")
    notes = [f"  {r.label}: the PostgreSQL server used {r.db_server_cpu_ms_per_event:.2f} CPU ms "
             "per event besides (not in CPU ms/ev)" for r in results
             if r.db_server_cpu_ms_per_event]
    notes += [f"  {r.label}: {note}" for r in results for note in r.notes]
    notes += [f"  {r.label}: ERROR {r.error}" for r in results if r.error]
    notes += [f"  {note}" for note in meta.get("skipped", [])]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)
