"""The global step after every shard is generated and de-leaked: gates, split, final Parquet, exports, stats.

    result = run_finalize(out_dir, FinalizeConfig(...))

Reads <out>/<source>/<task>/part-*.parquet for every task (source: "deleaked" by default), runs the
gates over the whole dataset in order schema -> answer -> truncated -> echo -> generic -> context ->
grounded -> geometry -> dedup -> mcq_balance -> split,
writes rejects/gate.<name>/part-00000.parquet (rewritten each run), final/<task>/, the InternVL
export and stats.json. Idempotent: running it again on the same inputs gives the same files.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pipeline.exports import InternVLConfig, export_internvl, write_final
from pipeline.gates import (
    AnswerConfig, AnswerGate, ContextGate, DedupConfig, DedupGate, EchoGate, GenericQuestionGate, GeometryGate,
    GroundedGate, MCQBalanceConfig, MCQBalanceGate, SchemaGate, SplitConfig, SplitGate, TruncatedGate, load_support,
)
from pipeline.gates.base import Gate
from pipeline.gates.judge import JudgeConfig, JudgeGate
from pipeline.io.parquet import list_shards, read_table, write_rows
from pipeline.report.stats import DatasetStats, compute_stats, write_stats
from schemas import QARow, Reject, RejectReason


class FinalizeConfig(BaseModel):
    tasks: list[str] | None = Field(None, description="None: every task folder found under the source table")
    source: Literal["deleaked", "qa"] = "deleaked"
    bbox_tolerance: float = Field(0.05, description="must equal GenerationConfig.bbox_tolerance")
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    grounded_min_share: float = Field(0.5, ge=0.0, le=1.0, description="share of answer words the row must support")
    context_min_words: int = Field(3, ge=0, description="readable words a redacted context must keep")
    prompts_dir: str | None = Field(None, description="templates the models saw (echo gate); None: the default")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="optional LLM judge gate (off without a role)")
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    mcq: MCQBalanceConfig = Field(default_factory=MCQBalanceConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    rows_per_shard: int = Field(5000, ge=1)
    internvl: InternVLConfig = Field(default_factory=InternVLConfig)
    export_internvl: bool = True


class GateOutcome(BaseModel):
    gate: str
    rows_in: int
    rows_out: int
    rejects: int


class FinalizeResult(BaseModel):
    out_dir: str
    tasks: list[str]
    rows_in: int
    rows_out: dict[str, int]
    gates: list[GateOutcome]
    export_rejects: int
    meta_path: str | None = Field(None, description="InternVL training meta (train split only)")
    eval_meta_path: str | None = Field(None, description="InternVL meta of the eval split")
    stats_path: str
    stats: DatasetStats
    seconds: float


def _tasks(out: Path, config: FinalizeConfig) -> list[str]:
    if config.tasks is not None:
        return list(config.tasks)
    folder = out / config.source
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _read_rows(out: Path, source: str, tasks: list[str], schema: SchemaGate
               ) -> tuple[list[QARow], list[Reject], list[Reject], int]:
    """Every task's rows, parsed shard by shard so that only one shard's raw records are held at a
    time (all of them next to the rows cost 0.1 GB more at 10k figures): (rows, schema rejects,
    unreadable shards, records read)."""
    rows, invalid, unreadable, count = [], [], [], 0
    for task in tasks:
        for shard in list_shards(out / source / task):
            try:
                records = read_table(shard).to_pylist()
            except Exception as exc:  # an unreadable shard is reported, the rest goes on
                unreadable.append(Reject(item=str(shard), stage=schema.stage, reason=RejectReason.INPUT_UNREADABLE,
                                         detail=f"{shard}: {type(exc).__name__}: {exc}"))
                continue
            count += len(records)
            parsed, bad = schema.parse(records)
            rows += parsed
            invalid += bad
    return rows, invalid, unreadable, count


def build_gates(config: FinalizeConfig, support: dict[str, str] | None = None) -> list[Gate]:
    """The gates after the schema gate, in order; `support` is load_support(out) for the grounding gate."""
    return [
        AnswerGate(config.answer),
        TruncatedGate(),
        EchoGate(Path(config.prompts_dir) if config.prompts_dir else None),
        GenericQuestionGate(),
        ContextGate(config.context_min_words),
        GroundedGate(support, config.grounded_min_share),
        GeometryGate(config.bbox_tolerance),
        DedupGate(config.dedup),
        MCQBalanceGate(config.mcq),
        SplitGate(config.split),
    ]


def _judge_engine(out: Path, judge: JudgeConfig):
    """The judge's own engine (its endpoint, the output folder's response cache), or None."""
    if judge.role is None:
        return None
    from pipeline.engine import build_engine, load_settings

    return build_engine(load_settings(text=judge.role), out / "cache")


def run_finalize(out_dir: Path, config: FinalizeConfig | None = None) -> FinalizeResult:
    start = time.perf_counter()
    config = config or FinalizeConfig()
    out = Path(out_dir)
    tasks = _tasks(out, config)
    schema = SchemaGate()
    parsed, invalid, unreadable, rows_in = _read_rows(out, config.source, tasks, schema)
    rows, failed = schema.apply(parsed)
    rejects = invalid + failed
    del parsed
    outcomes = [GateOutcome(gate=schema.name, rows_in=rows_in, rows_out=len(rows), rejects=len(rejects) + len(unreadable))]
    write_rows(out / "rejects" / schema.stage / "part-00000.parquet", unreadable + rejects, Reject)
    support = load_support(out, {r.figure_id for r in rows})
    gates = build_gates(config, support)
    judge_engine = _judge_engine(out, config.judge)
    if judge_engine is not None:  # before the split, so a dropped row never reaches either side
        gates.insert(-1, JudgeGate(judge_engine, config.judge, support))
    for gate in gates:
        before = len(rows)
        rows, dropped = gate.apply(rows)
        outcomes.append(GateOutcome(gate=gate.name, rows_in=before, rows_out=len(rows), rejects=len(dropped)))
        write_rows(out / "rejects" / gate.stage / "part-00000.parquet", dropped, Reject)
    if judge_engine is not None:
        asyncio.run(judge_engine.aclose())

    by_task: dict[str, list[QARow]] = {t: [] for t in tasks}
    for row in rows:
        by_task.setdefault(row.task, []).append(row)
    for task, task_rows in by_task.items():
        write_final(out, task, task_rows, config.rows_per_shard)

    meta_path, eval_meta_path, export_rejects = None, None, []
    if config.export_internvl:
        _, export_rejects = export_internvl(out, by_task, config.internvl)
        meta_path = str(out / "export" / "internvl" / "meta.json")
        eval_meta_path = str(out / "export" / "internvl" / "meta_eval.json")
    write_rows(out / "rejects" / "export" / "part-00000.parquet", export_rejects, Reject)

    stats = compute_stats(out)
    stats_path = write_stats(out, stats)
    return FinalizeResult(
        out_dir=str(out),
        tasks=sorted(by_task),
        rows_in=rows_in,
        rows_out={t: len(r) for t, r in sorted(by_task.items())},
        gates=outcomes,
        export_rejects=len(export_rejects),
        meta_path=meta_path,
        eval_meta_path=eval_meta_path,
        stats_path=str(stats_path),
        stats=stats,
        seconds=round(time.perf_counter() - start, 3),
    )
