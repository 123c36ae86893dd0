"""Temporary Parquet of the rows that passed the per-row gates, one file per input shard, under
<out>/.finalize/ (removed when finalize ends; a leftover of a killed run is removed at the next start).
Each file remembers its task and qa_id range so a reader looking for some ids opens only the files
that can hold them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.io.atomic import atomic_write
from pipeline.io.parquet import to_table
from schemas import QARow

FOLDER = ".finalize"


class SpoolFile(NamedTuple):
    path: Path
    task: str
    first: str
    last: str
    rows: int


class Spool:
    def __init__(self, out_dir: Path) -> None:
        self.root = Path(out_dir) / FOLDER
        shutil.rmtree(self.root, ignore_errors=True)
        self.files: list[SpoolFile] = []

    def write(self, task: str, rows: list[QARow]) -> None:
        if not rows:
            return
        table = to_table(rows, QARow)
        path = self.root / task / f"part-{len(self.files):05d}.parquet"
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        ids = [r.qa_id for r in rows]
        self.files.append(SpoolFile(path, task, min(ids), max(ids), len(rows)))

    @staticmethod
    def read(file: SpoolFile, keep: set[str] | None = None) -> pa.Table:
        """The file's rows (only those whose qa_id is in `keep`, when given)."""
        table = pq.read_table(file.path)
        if keep is None:
            return table
        return table.filter(pc.is_in(table["qa_id"], value_set=pa.array(sorted(keep), type=pa.string())))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
