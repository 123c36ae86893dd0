"""Final Parquet per task: <out>/final/<task>/part-XXXXX.parquet, sorted by qa_id, loadable with
Hugging Face `datasets` (load_dataset("parquet", data_files=".../final/<task>/*.parquet"))."""

from __future__ import annotations

from pathlib import Path

from pipeline.io.parquet import list_shards, shard_name, write_rows
from schemas import QARow


def write_final(out_dir: Path, task: str, rows: list[QARow], rows_per_shard: int = 5000) -> list[Path]:
    """Write the task's rows in shards (an empty task gets one empty, typed shard); shards left
    from an earlier, larger run are removed after the new ones are in place."""
    folder = Path(out_dir) / "final" / task
    rows = sorted(rows, key=lambda r: r.qa_id)
    chunks = [rows[i : i + rows_per_shard] for i in range(0, len(rows), rows_per_shard)] or [[]]
    written = [write_rows(folder / shard_name(i), chunk, QARow) for i, chunk in enumerate(chunks)]
    for stale in list_shards(folder)[len(written) :]:
        stale.unlink(missing_ok=True)
    return written
