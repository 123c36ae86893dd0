"""Files parsed side by side (pipeline.ingest.ordered): same shards as one at a time, in input order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.ingest import IngestConfig, run_ingest
from pipeline.ingest.ordered import ordered_map


def test_results_come_in_input_order_from_several_threads():
    threads: set[str] = set()

    def slow_square(x: int) -> int:
        threads.add(threading.current_thread().name)
        time.sleep(0.02 * (5 - x % 5))  # later items finish first
        return x * x

    assert list(ordered_map(slow_square, range(12), workers=3)) == [x * x for x in range(12)]
    assert len(threads) > 1


def test_an_error_surfaces_at_its_item_and_an_early_stop_cancels_the_rest():
    started: list[int] = []

    def fn(x: int) -> int:
        started.append(x)
        if x == 2:
            raise ValueError("item 2 is bad")
        return x

    results = ordered_map(fn, range(100), workers=2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="item 2"):
        next(results)
    time.sleep(0.05)
    assert len(started) < 20  # bounded look-ahead: the rest was never started


def test_parallel_ingest_writes_the_same_shards(demo_data: Path, tmp_path: Path, monkeypatch):
    """Inline, on threads and in worker processes (a corpus of >= PROCESS_MIN_FILES files; lowered
    here so the demo's four articles take that path): the same rows, shards and CPU accounting."""
    import pipeline.ingest as ingest

    tables, results = {}, {}
    for mode, workers, min_files in (("inline", 1, 32), ("threads", 3, 32), ("processes", 2, 1)):
        monkeypatch.setattr(ingest, "PROCESS_MIN_FILES", min_files)
        out = tmp_path / mode
        results[mode] = run_ingest(demo_data / "demo", out, IngestConfig(workers=workers, shard_size=3))
        tables[mode] = {p.name: pq.read_table(p).to_pylist() for p in sorted((out / "figures").glob("*.parquet"))}
    assert tables["inline"] == tables["threads"] == tables["processes"] and len(tables["inline"]) > 1
    assert results["inline"].worker_cpu_seconds == 0
    assert results["processes"].worker_cpu_seconds > 0 and results["threads"].worker_cpu_seconds > 0
