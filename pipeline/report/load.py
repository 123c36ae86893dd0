"""Read every table of an output folder for the report, tolerating tables that were never built.

A `Table` is either loaded (rows, possibly an empty list) or absent with a `note` saying why
("not built yet", or a read error). The report shows that note instead of crashing, so it works on
a build that ran only stage 1 as well as on a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel

from pipeline.io.parquet import list_shards, read_all
from schemas import Article, Figure, KnowledgeRow, PerceptionRow, QARow, Reject, SummaryRow

M = TypeVar("M", bound=BaseModel)

# QA tables in pipeline order; the gallery and the length plots use the latest one present.
QA_STAGES = ("qa", "deleaked", "final")


@dataclass
class Table(Generic[M]):
    name: str  # path under the output folder, e.g. "summaries" or "final/text_qa"
    rows: list[M] | None  # None: not built (or unreadable); see `note`
    note: str | None = None

    @property
    def built(self) -> bool:
        return self.rows is not None

    def __len__(self) -> int:
        return len(self.rows or [])


def load_table(out_dir: Path, name: str, model: type[M]) -> Table[M]:
    directory = out_dir / name
    if not list_shards(directory):
        return Table(name, None, f"not built yet: {name}/ has no Parquet shards")
    try:
        return Table(name, read_all(directory, model))
    except Exception as exc:  # noqa: BLE001 - any unreadable table becomes a note, never a crash
        return Table(name, None, f"could not read {name}/: {type(exc).__name__}: {exc}")


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

    def all_rejects(self) -> list[Reject]:
        return [r for t in self.rejects.values() for r in (t.rows or [])]


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
