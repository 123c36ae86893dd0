"""Pass 2 of finalize: the kept rows are read back from the spool and written out.

For each task, its kept qa_ids are sorted and cut into final shards of `rows_per_shard`; for each
final shard only the spool files whose qa_id range meets the shard's are opened and filtered to its
ids, moved MCQ rows are re-rendered, every row gets its split, and the shard is written as one Arrow
table (no QARow per row). The same rows, in the same order, go on to the InternVL export, a slice at
a time. Memory: one final shard as Arrow plus one slice of rows, whatever the build's size.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.exports.final_parquet import FinalWriter
from pipeline.exports.internvl import InternVLWriter
from pipeline.finalizing.spool import Spool
from pipeline.gates.mcq_balance import move_answer
from pipeline.gates.split import SplitConfig, article_split
from pipeline.io.parquet import to_table
from schemas import QARow

SLICE = 256  # rows turned into QARow objects at a time for the export


def _rows(table: pa.Table) -> Iterator[QARow]:
    for start in range(0, table.num_rows, SLICE):
        for record in table.slice(start, SLICE).to_pylist():
            yield QARow.model_validate(record)


def _moved(table: pa.Table, moves: dict[str, str]) -> pa.Table:
    """The table with each row named in `moves` re-rendered with its correct option moved."""
    if not moves:
        return table
    hit = pc.is_in(table["qa_id"], value_set=pa.array(sorted(moves), type=pa.string()))
    if not pc.any(hit).as_py():
        return table
    moved = [move_answer(row, moves[row.qa_id]) for row in _rows(table.filter(hit))]
    return pa.concat_tables([table.filter(pc.invert(hit)), to_table(moved, QARow).cast(table.schema)])


def _with_split(table: pa.Table, split: SplitConfig) -> pa.Table:
    index = table.schema.get_field_index("split")
    values = pa.array([article_split(a, split) for a in table["article_id"].to_pylist()], type=table.schema.field(index).type)
    return table.set_column(index, table.schema.field(index), values)


def write_outputs(out, spool: Spool, kept: dict[str, list[str]], moves: dict[str, str], split: SplitConfig,
                  rows_per_shard: int, export: InternVLWriter | None) -> dict[str, int]:
    """Write final/<task>/ and (when given) the InternVL export of the kept qa_ids per task;
    returns rows written per task."""
    written: dict[str, int] = {}
    for task in sorted(kept):
        ids = sorted(kept[task])
        final = FinalWriter(out, task)
        if export is not None:
            export.begin_task(task)
        files = spool.files  # a row is filed under its folder's task; its qa_id range finds it either way
        for start in range(0, len(ids), rows_per_shard):
            chunk = ids[start : start + rows_per_shard]
            first, last, wanted = chunk[0], chunk[-1], set(chunk)
            pieces = [_moved(Spool.read(f, wanted), moves) for f in files if f.first <= last and f.last >= first]
            table = _with_split(pa.concat_tables(pieces), split)
            table = table.take(pc.sort_indices(table, sort_keys=[("qa_id", "ascending")])).combine_chunks()
            if table.num_rows != len(chunk):  # the spool lost rows: never expected, never silent
                raise RuntimeError(f"finalize spool gave {table.num_rows} of {len(chunk)} rows of {task}")
            final.write(table)
            if export is not None:
                for row in _rows(table):
                    export.add(row)
        final.close()
        if export is not None:
            export.end_task()
        written[task] = len(ids)
    return written
