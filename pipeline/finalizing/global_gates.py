"""The gates that need the whole dataset, after pass 1: dedup and MCQ balance decided on the compact
keys, the optional judge over the spooled rows still kept, and the split's article check. Returns
each gate's (rows in, rejects) and what pass 2 needs: the kept qa_ids per task and the MCQ moves."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import NamedTuple

from pipeline.finalizing.decide import decide_dedup, decide_mcq
from pipeline.finalizing.keys import RowKeys
from pipeline.finalizing.spool import Spool
from pipeline.gates import DedupGate, JudgeConfig, JudgeGate, MCQBalanceGate, SplitGate
from pipeline.gates.base import Gate
from schemas import QARow, Reject, RejectReason


class GlobalOutcome(NamedTuple):
    stages: list[tuple[Gate, int, list[Reject]]]  # (gate, rows in, rejects) in gate order
    kept: dict[str, list[str]]  # task -> qa_ids kept
    moves: dict[str, str]  # qa_id -> the letter its correct option moves to


def judge_spool(spool: Spool, gate: JudgeGate, dropped: set[str]) -> tuple[int, list[Reject]]:
    """The judge over the spooled rows not dropped yet, one spool file at a time: (rows in, rejects)."""
    rows_in, rejects = 0, []
    for file in spool.files:
        rows = [r for r in (QARow.model_validate(x) for x in Spool.read(file).to_pylist()) if r.qa_id not in dropped]
        rows_in += len(rows)
        rejects += gate.apply(rows)[1]
    return rows_in, rejects


def global_gates(keys: RowKeys, spool: Spool, dedup: DedupGate, mcq: MCQBalanceGate, split: SplitGate,
                 tasks: list[str], judge_engine=None, judge: JudgeConfig | None = None,
                 support: Mapping[str, str] | None = None) -> GlobalOutcome:
    alive = list(range(len(keys)))
    dropped_dedup = decide_dedup(keys, dedup)
    after_dedup = [i for i in alive if i not in dropped_dedup]
    moves, dropped_mcq = decide_mcq(keys, after_dedup, mcq)
    after_mcq = [i for i in after_dedup if i not in dropped_mcq]
    stages = [(dedup, len(alive), list(dropped_dedup.values())), (mcq, len(after_dedup), list(dropped_mcq.values()))]
    dropped = {keys.qa_ids[i] for i in [*dropped_dedup, *dropped_mcq]}
    if judge_engine is not None:  # after dedup and MCQ balance, before the split, as in the gate list
        gate = JudgeGate(judge_engine, judge, support)
        try:
            judged_in, judged = judge_spool(spool, gate, dropped)
        finally:
            asyncio.run(judge_engine.aclose())
        stages.append((gate, judged_in, judged))
        dropped |= {r.item for r in judged}
    survivors = [i for i in after_mcq if keys.qa_ids[i] not in dropped]
    no_article = [i for i in survivors if not keys.articles.values[keys.article[i]].strip()]  # SplitGate.check
    stages.append((split, len(survivors), [split.reject(keys.row(i), RejectReason.MISSING_INPUT,
                                                        "no article id, so no safe split") for i in no_article]))
    dropped |= {keys.qa_ids[i] for i in no_article}
    kept: dict[str, list[str]] = {t: [] for t in tasks}
    for i in survivors:
        if keys.qa_ids[i] not in dropped:
            kept.setdefault(keys.task_of(i), []).append(keys.qa_ids[i])
    return GlobalOutcome(stages, kept, moves)
