"""Generated secret files under processes that start together (``serve`` on every core)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from hub.security import ensure_secret_file


def _read_or_make(path: str, start, results) -> None:  # noqa: ANN001
    start.wait()
    results.put(ensure_secret_file(Path(path)))


def test_processes_starting_together_all_get_the_one_secret(tmp_path):
    path = tmp_path / "secrets" / "portal.key"
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_read_or_make, args=(str(path), start, results))
               for _ in range(8)]
    for worker in workers:
        worker.start()
    start.set()
    values = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert len(set(values)) == 1 and values[0]
    assert path.read_text().strip() == values[0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["portal.key"]  # no scratch left
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_empty_secret_file_is_refused_not_used(tmp_path):
    path = tmp_path / "lookup.key"
    path.write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        ensure_secret_file(path)
