"""The gates over the whole list of rows at once, as finalize ran them before it streamed: the
reference the streaming finalize must agree with (same rows kept, same rejects per gate, same MCQ
moves and splits). Holds every row in memory: for tests and small outputs only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.gates import SchemaGate, load_support
from pipeline.gates.base import Gate
from pipeline.io.parquet import list_shards, read_table
from schemas import QARow, Reject, RejectReason


def gates_in_memory(out: Path, config, tasks: list[str], judge: Callable[[dict[str, str]], Gate] | None = None
                    ) -> tuple[list[QARow], dict[str, list[Reject]], int]:
    """(rows after the split gate, rejects per gate name, records read) for FinalizeConfig `config`;
    `judge(support)` makes the judge gate, run before the split as run_finalize does."""
    from pipeline.finalize import build_gates

    schema = SchemaGate()
    parsed, rejects, count = [], {"schema": []}, 0
    invalid, unreadable = [], []
    for task in tasks:
        for shard in list_shards(out / config.source / task):
            try:
                records = read_table(shard).to_pylist()
            except Exception as exc:
                unreadable.append(Reject(item=str(shard), stage=schema.stage, reason=RejectReason.INPUT_UNREADABLE,
                                         detail=f"{shard}: {type(exc).__name__}: {exc}"))
                continue
            count += len(records)
            rows, bad = schema.parse(records)
            parsed += rows
            invalid += bad
    rows, failed = schema.apply(parsed)
    rejects["schema"] = unreadable + invalid + failed
    support = load_support(out, {r.figure_id for r in rows})
    gates = build_gates(config, support)
    if judge is not None:
        gates.insert(-1, judge(support))
    for gate in gates:
        rows, dropped = gate.apply(rows)
        rejects[gate.name] = dropped
    return rows, rejects, count
