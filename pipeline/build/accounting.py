"""Per-stage, per-shard balance of a finished build: every item a stage was given ends exactly once,
either as output rows or as a reject. Used by the reliability tests and bench/faults.py.

What an "item" is, per stage kind:
  - summary, knowledge (1:1): each selected figure id of the figures shard;
  - perception: each figure's panel crops and its whole image (keys `<figure>#panel-<label>`,
    `<figure>#figure`), or one figure-level reject (item = figure id) when its image is unusable;
  - qa.<task>: each item the generator plans for the shard (qa_id / reject item);
  - deleak.<task>: each QA row of qa/<task> for the selected figures (QA in = QA out + rejects).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io.parquet import read_rows
from pipeline.stages.base import ShardInputs, Stage
from schemas import PerceptionRow, QARow, Reject


@dataclass
class Balance:
    stage: str
    shard: str
    items: int = 0
    rows: int = 0
    rejects: int = 0
    missing: list[str] = field(default_factory=list)  # items with neither a row nor a reject
    duplicated: list[str] = field(default_factory=list)  # keys seen more than once
    unexpected: list[str] = field(default_factory=list)  # rows/rejects for no known item

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected) and self.items == self.rows + self.rejects


def _rows(out: Path, table: str, shard: str, model) -> list:
    path = out / table / shard
    return read_rows(path, model) if path.exists() else []


def _row_key(row) -> str:
    if isinstance(row, QARow):
        return row.qa_id
    if isinstance(row, PerceptionRow):
        return f"{row.figure_id}#figure" if row.panel_label is None else f"{row.figure_id}#panel-{row.panel_label}"
    return row.figure_id


def _expected(stage: Stage, out: Path, shard: str, only: frozenset[str] | None) -> tuple[set[str], set[str]]:
    """(item keys, keys a figure-level reject may stand for instead of its items)."""
    inputs = ShardInputs(out, shard, only)
    figures = inputs.figures
    if stage.name.startswith("deleak."):
        wanted = {f.figure_id for f in figures}
        return {r.qa_id for r in inputs.table(f"qa/{stage.task}", QARow) if r.figure_id in wanted}, set()
    if stage.name.startswith("qa."):
        return {p.item if isinstance(p, Reject) else p.key for p in stage.plan(inputs)}, set()
    if stage.name == "perception":
        keys: set[str] = set()
        for fig in figures:
            if fig.has_image and fig.image_path:
                single = len(fig.panels) == 1 and fig.panels[0].source == "whole"
                keys |= {f"{fig.figure_id}#panel-{p.label}" for p in ([] if single else fig.panels)}
                keys.add(f"{fig.figure_id}#figure")
        return keys, {f.figure_id for f in figures}
    return {f.figure_id for f in figures}, set()


def stage_balance(stage: Stage, out: Path, shard: str, only: frozenset[str] | None = None) -> Balance:
    out = Path(out)
    expected, figure_level = _expected(stage, out, shard, only)
    rows = _rows(out, stage.output_table, shard, stage.row_model)
    rejects = _rows(out, f"rejects/{stage.name}", shard, Reject)
    seen = Counter([_row_key(r) for r in rows] + [r.item for r in rejects])
    rejected_figures = {r.item for r in rejects if r.item in figure_level}
    covered = {k for k in expected if k.split("#", 1)[0] in rejected_figures}
    items = len(expected - covered) + len(rejected_figures)
    return Balance(
        stage=stage.name,
        shard=shard,
        items=items,
        rows=len(rows),
        rejects=len(rejects),
        missing=sorted(k for k in expected - covered if k not in seen),
        duplicated=sorted(k for k, n in seen.items() if n > 1),
        # a key outside the plan, or an item of a figure that was also rejected as a whole
        unexpected=sorted(k for k in seen if (k not in expected and k not in rejected_figures) or k in covered),
    )


def build_balance(config, ctx=None) -> list[Balance]:
    """Balance of every shard stage of a finished build (`config`: pipeline.build.BuildConfig)."""
    from pipeline.build import make_context, stage_plan

    ctx = ctx or make_context(config)
    return [stage_balance(stage, ctx.out_dir, shard, ctx.only(shard))
            for stage in stage_plan(config) for shard in ctx.shards]
