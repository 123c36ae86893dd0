"""Per-stage, per-shard balance of a finished build: every item a stage planned ends exactly once,
either as output rows or as a reject. Used by the reliability tests and bench/faults.py.

The stages own the rules: the runner records the keys a stage planned in the shard's marker (work
item keys and the items of planning rejects), and `Stage.row_key` says which item a row answers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.build.config import BuildConfig
from pipeline.build.context import BuildContext, make_context
from pipeline.build.plan import stage_plan
from pipeline.io.parquet import read_rows
from pipeline.stages.base import Stage
from pipeline.stages.runner import read_marker
from schemas import Reject

NO_MARKER = "(no completion marker: the shard never finished)"


@dataclass
class Balance:
    stage: str
    shard: str
    items: int = 0
    rows: int = 0
    rejects: int = 0
    missing: list[str] = field(default_factory=list)  # items with neither a row nor a reject
    duplicated: list[str] = field(default_factory=list)  # keys seen more than once
    unexpected: list[str] = field(default_factory=list)  # rows/rejects for no planned item

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected) and self.items == self.rows + self.rejects


def _rows(out: Path, table: str, shard: str, model) -> list:
    path = out / table / shard
    return read_rows(path, model) if path.exists() else []


def stage_balance(stage: Stage, out: Path, shard: str) -> Balance:
    out = Path(out)
    state = read_marker(stage, out, shard)
    rows = _rows(out, stage.output_table, shard, stage.row_model)
    rejects = _rows(out, f"rejects/{stage.name}", shard, Reject)
    if state is None or "planned" not in state:
        return Balance(stage.name, shard, rows=len(rows), rejects=len(rejects), missing=[NO_MARKER])
    planned = set(state["planned"])
    seen = Counter([stage.row_key(r) for r in rows] + [r.item for r in rejects])
    return Balance(
        stage=stage.name,
        shard=shard,
        items=len(state["planned"]),
        rows=len(rows),
        rejects=len(rejects),
        missing=sorted(planned - set(seen)),
        duplicated=sorted(k for k, n in seen.items() if n > 1),
        unexpected=sorted(set(seen) - planned),
    )


def build_balance(config: BuildConfig, ctx: BuildContext | None = None) -> list[Balance]:
    """Balance of every shard stage of a finished build."""
    ctx = ctx or make_context(config)
    return [stage_balance(stage, ctx.out_dir, shard) for stage in stage_plan(config) for shard in ctx.shards]
