"""The global step after every shard is generated and de-leaked: gates, split, final Parquet, exports, stats.

    result = run_finalize(out_dir, FinalizeConfig(...))

Reads <out>/<source>/<task>/part-*.parquet for every task (source: "deleaked" by default), runs the
gates over the whole dataset in order schema -> answer -> truncated -> echo -> generic -> context ->
grounded -> geometry -> dedup -> mcq_balance -> split,
writes rejects/gate.<name>/part-00000.parquet (rewritten each run), final/<task>/, the InternVL
export and stats.json. Idempotent: running it again on the same inputs gives the same files.

It streams (issue 17): no more than one input shard's rows and one final shard's Arrow table are held
at a time, plus ~1 KB of keys per row for the global gates; the rows between the passes wait in a
spool under <out>/.finalize/ (see run_finalize).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from pipeline.exports import InternVLConfig
from pipeline.exports.internvl import InternVLWriter
from pipeline.finalizing.first_pass import first_pass
from pipeline.finalizing.global_gates import global_gates
from pipeline.finalizing.second_pass import write_outputs
from pipeline.finalizing.spool import Spool
from pipeline.finalizing.support import SupportIndex
from pipeline.gates import (
    AnswerConfig, AnswerGate, ContextGate, DedupConfig, DedupGate, EchoGate, GenericQuestionGate, GeometryGate,
    GroundedGate, MCQBalanceConfig, MCQBalanceGate, SplitConfig, SplitGate, TruncatedGate,
)
from pipeline.gates.base import Gate
from pipeline.gates.judge import JudgeConfig
from pipeline.io.parquet import write_rows
from pipeline.report.stats import DatasetStats, compute_stats, write_stats
from schemas import Reject


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
    """Two passes over the data, so memory does not grow with the build (issue 17): the per-row gates
    shard by shard into a spool with compact keys per row (pipeline.finalizing.first_pass), the
    global gates decided on the keys (pipeline.finalizing.global_gates), then the final tables and the
    export written from the spool (pipeline.finalizing.second_pass). The kept and rejected rows, the
    MCQ moves and the split are those of the gates' apply over the whole list (pipeline.finalizing.reference)."""
    start = time.perf_counter()
    config = config or FinalizeConfig()
    out = Path(out_dir)
    tasks = _tasks(out, config)
    support = SupportIndex(out)  # figure text read on demand, not held whole
    gates = build_gates(config, support)
    row_gates, (dedup, mcq, split) = gates[:-3], gates[-3:]
    spool = Spool(out)
    try:
        first = first_pass(out, config.source, tasks, row_gates, dedup, spool)
        schema_rejects = first.unreadable + first.invalid + first.schema_gate.rejects
        write_rows(out / "rejects" / "gate.schema" / "part-00000.parquet", schema_rejects, Reject)
        outcomes = [GateOutcome(gate="schema", rows_in=first.records, rows_out=first.schema_gate.rows_out,
                                rejects=len(schema_rejects))]
        for name, count in first.gates.items():
            outcomes.append(GateOutcome(gate=name, rows_in=count.rows_in, rows_out=count.rows_out, rejects=len(count.rejects)))
            write_rows(out / "rejects" / f"gate.{name}" / "part-00000.parquet", count.rejects, Reject)
        decided = global_gates(first.keys, spool, dedup, mcq, split, tasks, _judge_engine(out, config.judge),
                               config.judge, support)
        for gate, rows_in, rejects in decided.stages:
            outcomes.append(GateOutcome(gate=gate.name, rows_in=rows_in, rows_out=rows_in - len(rejects), rejects=len(rejects)))
            write_rows(out / "rejects" / gate.stage / "part-00000.parquet", rejects, Reject)
        first_records = first.records
        first.keys.close()
        del first  # the keys: pass 2 needs only the decisions
        export = InternVLWriter(out, config.internvl) if config.export_internvl else None
        rows_out = write_outputs(out, spool, decided.kept, decided.moves, config.split, config.rows_per_shard, export)
    finally:
        spool.remove()
    meta_path, eval_meta_path, export_rejects = None, None, []
    if export is not None:
        _, export_rejects = export.close()
        meta_path = str(out / "export" / "internvl" / "meta.json")
        eval_meta_path = str(out / "export" / "internvl" / "meta_eval.json")
    write_rows(out / "rejects" / "export" / "part-00000.parquet", export_rejects, Reject)

    stats = compute_stats(out)
    stats_path = write_stats(out, stats)
    return FinalizeResult(
        out_dir=str(out),
        tasks=sorted(rows_out),
        rows_in=first_records,
        rows_out=rows_out,
        gates=outcomes,
        export_rejects=len(export_rejects),
        meta_path=meta_path,
        eval_meta_path=eval_meta_path,
        stats_path=str(stats_path),
        stats=stats,
        seconds=round(time.perf_counter() - start, 3),
    )
