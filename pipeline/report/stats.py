"""Dataset statistics from an output folder: per task counts, rejects by reason, leakage, MCQ letters,
duplicate rate. `compute_stats(out_dir)` reads only what is on disk, so it works on any finished
(or half-finished) run; the CLI `stats` command and the HTML report both use it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from pipeline.io.atomic import atomic_write_text
from pipeline.io.parquet import list_shards, read_rows
from schemas import SCHEMA_VERSION, Figure, RejectReason


class TaskStats(BaseModel):
    task: str
    generated: int = Field(0, description="rows in qa/<task>")
    deleaked: int = Field(0, description="rows in deleaked/<task>")
    final: int = Field(0, description="rows in final/<task>")
    train: int = 0
    eval: int = 0
    rejects_by_reason: dict[str, int] = Field(default_factory=dict, description="every stage's rejects of this task")
    leakage_before_mean: float | None = None
    leakage_after_mean: float | None = None
    rewritten: int = Field(0, description="rows whose context de-leakage changed")
    rule_fallbacks: int = Field(0, description="final rows phrased by a rule because the model's text was unusable")
    mcq_letters: dict[str, int] = Field(default_factory=dict, description="correct letter counts in final rows")
    duplicates: int = 0
    duplicate_rate: float | None = Field(None, description="near-duplicate drops / rows that entered finalize")
    rejected_by_gate: dict[str, int] = Field(default_factory=dict, description="finalize gate -> rows of this task it dropped")
    keep_rate: float | None = Field(None, description="final / generated: the share of generated rows that survived")
    models: list[str] = Field(default_factory=list, description="models that wrote this task's generated rows")


class PanelStats(BaseModel):
    """How well panels are grounded on their printed letters (from figures/)."""

    figures: int = 0
    compound_figures: int = Field(0, description="figures with two or more panels")
    grounded_figures: int = Field(0, description="compound figures whose every panel carries a trusted printed letter")
    grounded_share: float | None = Field(None, description="grounded_figures / compound_figures")
    panels_by_label_source: dict[str, int] = Field(default_factory=dict)
    pairing_by_outcome: dict[str, int] = Field(default_factory=dict, description="per panel: paired or why not")


class DatasetStats(BaseModel):
    out_dir: str
    schema_version: str = SCHEMA_VERSION
    tasks: list[TaskStats]
    panels: PanelStats = Field(default_factory=PanelStats)
    rejects_by_stage: dict[str, dict[str, int]] = Field(default_factory=dict)
    blanked_by_stage: dict[str, int] = Field(
        default_factory=dict, description="fields blanked inside kept rows (echoes of the prompt), per stage; not rejects")
    total_final: int = 0
    total_rejects: int = 0
    total_generated: int = 0
    keep_rate: float | None = Field(None, description="headline: final rows / generated rows, all tasks")
    models: list[str] = Field(default_factory=list, description="models that wrote the generated rows")
    unreadable_shards: list[str] = Field(
        default_factory=list, description="shards that could not be read: counted as no rows, so the numbers above are short")


def _columns(folder: Path, columns: list[str], unreadable: list[str]) -> dict[str, list]:
    """The columns of every shard; a shard that cannot be read adds no rows and its path to
    `unreadable` (finalize rejects such a shard of its input; the report says its numbers are off).
    A nested field is named with a dot ("provenance.model_id") and read without its siblings."""
    out: dict[str, list] = {c: [] for c in columns}
    for table in _tables(folder, columns, unreadable):
        for c, column in zip(columns, table.columns, strict=True):
            out[c].extend(column.to_pylist())
    return out


def _tables(folder: Path, columns: list[str], unreadable: list[str]) -> Iterator[pa.Table]:
    """The shards of a table, one at a time, reading only `columns`."""
    for shard in list_shards(folder):
        try:
            table = pq.read_table(shard, columns=columns)
        except (OSError, pa.ArrowException):
            unreadable.append(str(shard))
            continue
        yield table


def _rewritten(folder: Path, unreadable: list[str]) -> int:
    """Rows whose context differs from the one before de-leakage, counted in Arrow (the contexts
    themselves are the largest strings of a row and never need to become Python objects)."""
    total = 0
    for table in _tables(folder, ["context", "context_original"], unreadable):
        context, original = table.column(0), table.column(1)
        changed = pc.and_(pc.is_valid(original), pc.not_equal(pc.fill_null(context, ""), original))
        total += int(pc.sum(pc.cast(pc.fill_null(changed, False), pa.int64())).as_py() or 0)
    return total


def _count(folder: Path, unreadable: list[str]) -> int:
    total = 0
    for shard in list_shards(folder):
        try:
            total += pq.ParquetFile(shard).metadata.num_rows
        except (OSError, pa.ArrowException):  # as in _columns
            unreadable.append(str(shard))
    return total


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def _models(folder: Path, unreadable: list[str]) -> list[str]:
    """Distinct model ids in a table's provenance ("rule" for rows no model wrote)."""
    names = {m or "rule" for m in _columns(folder, ["provenance.model_id"], unreadable)["provenance.model_id"]}
    return sorted(names)


def _task_names(out: Path) -> list[str]:
    names: set[str] = set()
    for table in ("qa", "deleaked", "final"):
        if (out / table).is_dir():
            names |= {p.name for p in (out / table).iterdir() if p.is_dir()}
    return sorted(names)


def _task_of(stage: str, item: str, tasks: set[str]) -> str | None:
    prefix, _, rest = stage.partition(".")
    if prefix in ("qa", "deleak") and rest in tasks:
        return rest
    head = item.split("/", 1)[0]
    return head if head in tasks else None


def panel_stats(out: Path) -> PanelStats:
    st = PanelStats()
    sources: Counter = Counter()
    outcomes: Counter = Counter()
    for shard in list_shards(out / "figures"):
        for fig in read_rows(shard, Figure):
            st.figures += 1
            if len(fig.panels) < 2:
                continue
            st.compound_figures += 1
            st.grounded_figures += fig.grounded
            for p in fig.panels:
                sources[p.label_source.value] += 1
                outcomes[fig.pairing(p.label).outcome.value] += 1
    st.grounded_share = round(st.grounded_figures / st.compound_figures, 4) if st.compound_figures else None
    st.panels_by_label_source = dict(sorted(sources.items()))
    st.pairing_by_outcome = dict(sorted(outcomes.items()))
    return st


def compute_stats(out_dir: Path) -> DatasetStats:
    out = Path(out_dir)
    tasks = _task_names(out)
    by_task = {t: TaskStats(task=t) for t in tasks}
    unreadable: list[str] = []
    by_stage: dict[str, Counter] = {}
    task_reasons: dict[str, Counter] = {t: Counter() for t in tasks}
    task_gates: dict[str, Counter] = {t: Counter() for t in tasks}
    for folder in sorted(p for p in (out / "rejects").glob("*") if p.is_dir()):
        cols = _columns(folder, ["item", "stage", "reason"], unreadable)
        for item, stage, reason in zip(cols["item"], cols["stage"], cols["reason"], strict=True):
            by_stage.setdefault(stage, Counter())[reason] += 1
            task = _task_of(stage, item, set(tasks))
            if task:
                task_reasons[task][reason] += 1
                if stage.startswith("gate."):
                    task_gates[task][stage.removeprefix("gate.")] += 1
    for task, st in by_task.items():
        st.generated = _count(out / "qa" / task, unreadable)
        st.deleaked = _count(out / "deleaked" / task, unreadable)
        st.rejects_by_reason = dict(sorted(task_reasons[task].items()))
        final_dir = out / "final" / task
        leak_dir = final_dir if list_shards(final_dir) else out / "deleaked" / task
        leak = _columns(leak_dir, ["leakage_before", "leakage_after"], unreadable)
        st.leakage_before_mean = _mean(leak["leakage_before"])
        st.leakage_after_mean = _mean(leak["leakage_after"])
        st.rewritten = _rewritten(leak_dir, unreadable)
        final = _columns(final_dir, ["split", "answer_letter", "provenance.template_name"], unreadable)
        st.rule_fallbacks = sum(1 for name in final["provenance.template_name"] if (name or "").endswith(".rule"))
        st.final = len(final["split"])
        splits = Counter(final["split"])
        st.train, st.eval = splits.get("train", 0), splits.get("eval", 0)
        st.mcq_letters = dict(sorted(Counter(x for x in final["answer_letter"] if x).items()))
        st.duplicates = task_reasons[task].get(RejectReason.NEAR_DUPLICATE.value, 0)
        entered = st.deleaked or st.generated
        st.duplicate_rate = round(st.duplicates / entered, 4) if entered else None
        st.rejected_by_gate = dict(sorted(task_gates[task].items()))
        st.keep_rate = round(st.final / st.generated, 4) if st.generated else None
        st.models = _models(out / "qa" / task, unreadable)
    blanked = {p.name: _count(p, unreadable) for p in sorted((out / "blanked").glob("*")) if p.is_dir()}
    generated = sum(t.generated for t in by_task.values())
    final = sum(t.final for t in by_task.values())
    return DatasetStats(
        out_dir=str(out),
        tasks=list(by_task.values()),
        panels=panel_stats(out),
        rejects_by_stage={s: dict(sorted(c.items())) for s, c in sorted(by_stage.items())},
        blanked_by_stage={s: n for s, n in blanked.items() if n},
        total_final=final,
        total_rejects=sum(sum(c.values()) for c in by_stage.values()),
        total_generated=generated,
        keep_rate=round(final / generated, 4) if generated else None,
        models=sorted({m for t in by_task.values() for m in t.models}),
        unreadable_shards=sorted(set(unreadable)),
    )


def write_stats(out_dir: Path, stats: DatasetStats | None = None) -> Path:
    stats = stats or compute_stats(out_dir)
    path = Path(out_dir) / "stats.json"
    atomic_write_text(path, json.dumps(stats.model_dump(mode="json"), indent=2, sort_keys=True))
    return path
