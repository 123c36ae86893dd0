"""Final Parquet per task: <out>/final/<task>/part-XXXXX.parquet, sorted by qa_id, loadable with
Hugging Face `datasets` (load_dataset("parquet", data_files=".../final/<task>/*.parquet"))."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io.atomic import atomic_write
from pipeline.io.parquet import list_shards, shard_name, to_table, write_rows
from schemas import QARow
from schemas.arrow import arrow_schema


class FinalWriter:
    """Writes one task's final shards one at a time (the caller hands over each shard's rows, in
    order, as an Arrow table of QARow records); close() writes an empty, typed shard if nothing was
    written and removes shards left from an earlier, larger run."""

    def __init__(self, out_dir: Path, task: str) -> None:
        self.folder = Path(out_dir) / "final" / task
        self.written: list[Path] = []
        self.schema = arrow_schema(QARow)

    def write(self, table: pa.Table) -> Path:
        table = table.cast(self.schema)  # a table read back from Parquet names list items "element"
        path = self.folder / shard_name(len(self.written))
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        self.written.append(path)
        return path

    def close(self) -> list[Path]:
        if not self.written:
            self.written.append(write_rows(self.folder / shard_name(0), [], QARow))
        for stale in list_shards(self.folder)[len(self.written) :]:
            stale.unlink(missing_ok=True)
        return self.written


def write_final(out_dir: Path, task: str, rows: list[QARow], rows_per_shard: int = 5000) -> list[Path]:
    """Write the task's rows in shards of `rows_per_shard`, sorted by qa_id."""
    writer = FinalWriter(out_dir, task)
    rows = sorted(rows, key=lambda r: r.qa_id)
    for i in range(0, len(rows), rows_per_shard):
        writer.write(to_table(rows[i : i + rows_per_shard], QARow))
    return writer.close()
