"""Pass 1 of finalize: every input shard in turn is read, schema-checked and put through the per-row
gates; its surviving rows go to the spool and their compact keys are kept for the global gates.
Only one shard's rows are in memory at a time. Rejects come out in the order the whole-list gates
give them (read order)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.finalizing.keys import RowKeys
from pipeline.finalizing.spool import Spool
from pipeline.gates import DedupGate, SchemaGate
from pipeline.gates.base import Flag, RowGate
from pipeline.io.parquet import list_shards, read_table
from schemas import Reject, RejectReason


class GateCount(BaseModel):
    """One gate's rows in/out and its rejects in read order."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    rows_in: int = 0
    rows_out: int = 0
    rejects: list[Reject] = Field(default_factory=list)


class FirstPass(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    records: int = 0
    unreadable: list[Reject] = Field(default_factory=list)
    invalid: list[Reject] = Field(default_factory=list)  # records that are not QA rows
    schema_gate: GateCount = Field(default_factory=GateCount)
    gates: dict[str, GateCount] = Field(default_factory=dict)
    keys: RowKeys


def first_pass(out: Path, source: str, tasks: list[str], row_gates: list[RowGate], dedup: DedupGate,
               spool: Spool) -> FirstPass:
    schema = SchemaGate()
    shards = {task: list_shards(out / source / task) for task in tasks}
    result = FirstPass(keys=RowKeys(dedup, spool.root / "keys.bin"),
                       gates={g.name: GateCount() for g in row_gates})
    seen: set[str] = set()
    for task in tasks:
        for shard in shards[task]:
            try:
                records = read_table(shard).to_pylist()
            except Exception as exc:  # an unreadable shard is reported, the rest goes on
                result.unreadable.append(Reject(item=str(shard), stage=schema.stage, reason=RejectReason.INPUT_UNREADABLE,
                                                detail=f"{shard}: {type(exc).__name__}: {exc}"))
                continue
            result.records += len(records)
            parsed, bad = schema.parse(records)
            del records
            result.invalid += bad
            rows = []
            result.schema_gate.rows_in += len(parsed)
            for row in parsed:  # SchemaGate.apply, with qa_ids seen across every shard
                flag = Flag(RejectReason.DUPLICATE_ID, "the qa_id occurs more than once") if row.qa_id in seen else schema.check(row)
                if flag is not None:
                    result.schema_gate.rejects.append(schema.reject(row, flag.reason, flag.detail))
                    continue
                seen.add(row.qa_id)
                rows.append(row)
            result.schema_gate.rows_out += len(rows)
            for gate in row_gates:
                count = result.gates[gate.name]
                count.rows_in += len(rows)
                rows, dropped = gate.apply(rows)
                count.rows_out += len(rows)
                count.rejects += dropped
            result.keys.add(rows)
            spool.write(task, rows)
    return result
