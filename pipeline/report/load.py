"""The tables of an output folder as the report reads them: lazily, a few columns at a time.

A `Table` is either built (its shards' footers were read: row count, schema version) or absent with
a `note` saying why ("not built yet", or a read error). The report shows that note instead of
crashing, so it works on a build that ran only stage 1 as well as on a complete one.

Nothing here parses a whole table into row models: at 10k figures that was ~2.7 GB for the report
alone (every stage's QA rows as pydantic objects). Sections read the columns they need
(`records`), and only the rows the gallery shows are parsed in full (`rows_where`).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from pipeline.io.parquet import METADATA_VERSION_KEY, list_shards
from schemas import SCHEMA_VERSION, Article, Figure, KnowledgeRow, PerceptionRow, QARow, Reject, SummaryRow

M = TypeVar("M", bound=BaseModel)

# QA tables in pipeline order; the gallery and the length plots use the latest one present.
QA_STAGES = ("qa", "deleaked", "final")


@dataclass
class Table(Generic[M]):
    name: str  # path under the output folder, e.g. "summaries" or "final/text_qa"
    model: type[M]
    shards: list[Path] = field(default_factory=list)
    count: int | None = None  # rows; None: not built (or unreadable), see `note`
    note: str | None = None

    @property
    def built(self) -> bool:
        return self.count is not None

    def __len__(self) -> int:
        return self.count or 0

    def _unreadable(self, exc: Exception) -> None:
        self.count, self.note = None, f"could not read {self.name}/: {type(exc).__name__}: {exc}"

    def records(self, *columns: str) -> list[Any]:
        """One named tuple per row holding `columns`, shard by shard. A shard that fails to read
        here (a bad data page its footer did not show) turns the table into an unreadable one."""
        if not self.built:
            return []
        Record = namedtuple("Record", columns)  # noqa: PYI024 - field names are the caller's columns
        out: list[Any] = []
        try:
            for shard in self.shards:
                table = pq.read_table(shard, columns=list(columns))
                out.extend(Record(*values) for values in zip(*(table.column(c).to_pylist() for c in columns), strict=True))
        except Exception as exc:  # noqa: BLE001 - the section shows the table as unreadable
            self._unreadable(exc)
            return []
        return out

    def list_lengths(self, column: str) -> int:
        """Sum of the lengths of a list column (e.g. panels per figure), without reading its items' values."""
        try:
            return sum(int(pc.sum(pc.list_value_length(pq.read_table(s, columns=[column]).column(column))).as_py() or 0)
                       for s in self.shards)
        except Exception as exc:  # noqa: BLE001
            self._unreadable(exc)
            return 0

    def rows_where(self, column: str, values: Iterable[str]) -> list[M]:
        """The rows whose `column` is one of `values`, parsed; one shard in memory at a time."""
        wanted = sorted(set(values))
        if not self.built or not wanted:
            return []
        out: list[M] = []
        try:
            for shard in self.shards:
                table = pq.read_table(shard)
                picked = table.filter(pc.is_in(table.column(column), value_set=pc.cast(wanted, table.schema.field(column).type)))
                out.extend(self.model.model_validate(r) for r in picked.to_pylist())
        except Exception as exc:  # noqa: BLE001
            self._unreadable(exc)
            return []
        return out

    def rows_at(self, indices: Iterable[int]) -> list[M]:
        """The rows at these positions (counted over the shards in order), parsed, in that order."""
        wanted = sorted(set(indices))
        if not self.built or not wanted:
            return []
        out: list[M] = []
        start = 0
        try:
            for shard in self.shards:
                n = pq.ParquetFile(shard).metadata.num_rows
                here = [i - start for i in wanted if start <= i < start + n]
                if here:
                    out.extend(self.model.model_validate(r) for r in pq.read_table(shard).take(here).to_pylist())
                start += n
        except Exception as exc:  # noqa: BLE001
            self._unreadable(exc)
            return []
        return out


def load_table(out_dir: Path, name: str, model: type[M]) -> Table[M]:
    """The table's shards and row count from their footers; a footer that does not read, or a shard
    of another schema version, makes it unreadable with a note."""
    shards = list_shards(out_dir / name)
    if not shards:
        return Table(name, model, note=f"not built yet: {name}/ has no Parquet shards")
    table = Table(name, model, shards)
    try:
        count = 0
        for shard in shards:
            meta = pq.ParquetFile(shard).metadata
            version = (meta.metadata or {}).get(METADATA_VERSION_KEY, b"?").decode()
            if version != SCHEMA_VERSION:
                raise ValueError(f"{shard} was written with schema version {version}, this pmc-instruct uses {SCHEMA_VERSION}")
            count += meta.num_rows
        table.count = count
    except Exception as exc:  # noqa: BLE001 - any unreadable table becomes a note, never a crash
        table._unreadable(exc)
    return table


def _subdirs(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


@dataclass
class ReportData:
    out_dir: Path
    articles: Table[Article]
    figures: Table[Figure]
    summaries: Table[SummaryRow]
    knowledge: Table[KnowledgeRow]
    perception: Table[PerceptionRow]
    tasks: list[str]
    # qa[stage][task] for stage in QA_STAGES; a task missing from a stage maps to an unbuilt Table
    qa: dict[str, dict[str, Table[QARow]]] = field(default_factory=dict)
    rejects: dict[str, Table[Reject]] = field(default_factory=dict)  # by reject stage name

    def latest_qa(self, task: str) -> Table[QARow]:
        """The most processed QA table of a task that exists (final, else deleaked, else qa)."""
        for stage in reversed(QA_STAGES):
            table = self.qa[stage][task]
            if table.built:
                return table
        return self.qa["qa"][task]


def load_report_data(out_dir: Path) -> ReportData:
    out_dir = Path(out_dir)
    tasks = sorted({t for stage in QA_STAGES for t in _subdirs(out_dir / stage)})
    qa = {stage: {t: load_table(out_dir, f"{stage}/{t}", QARow) for t in tasks} for stage in QA_STAGES}
    reject_dir = out_dir / "rejects"
    rejects = {s: load_table(out_dir, f"rejects/{s}", Reject) for s in _subdirs(reject_dir)}
    return ReportData(
        out_dir=out_dir,
        articles=load_table(out_dir, "articles", Article),
        figures=load_table(out_dir, "figures", Figure),
        summaries=load_table(out_dir, "summaries", SummaryRow),
        knowledge=load_table(out_dir, "knowledge", KnowledgeRow),
        perception=load_table(out_dir, "perception", PerceptionRow),
        tasks=tasks,
        qa=qa,
        rejects=rejects,
    )
