"""Truncation gate: a row whose model text was cut short is dropped.

The engine records why a model stopped (Provenance.finish_reason): "length" when max_tokens ran
out or, for the embedded model, when a string reached the grammar's length bound (the grammar then
closes the JSON mid-word: "The edge-d"). Such rows are rejected, not retried with more tokens: a
model that ran out of room usually rambled or looped, a retry is a second call of unbounded size
at 100k+ figures, and a user who wants longer answers raises --max-tokens (the cache keeps the
rest of the build free). The same holds for a de-leak rewrite that was cut short.
"""

from __future__ import annotations

from typing import ClassVar

from pipeline.gates.base import Flag, RowGate
from schemas import QARow, RejectReason


class TruncatedGate(RowGate):
    name: ClassVar[str] = "truncated"

    def check(self, row: QARow) -> Flag | None:
        if row.provenance.finish_reason == "length":
            return Flag(RejectReason.ANSWER_TRUNCATED,
                        f"the model stopped at its length limit ({row.provenance.tokens_out} tokens): "
                        f"the text ends {(row.question if row.answer_letter else row.answer)[-30:]!r}")
        deleak = row.deleak_provenance
        if deleak is not None and deleak.finish_reason == "length" and row.context != row.context_original:
            return Flag(RejectReason.ANSWER_TRUNCATED, "the de-leak rewrite of the context was cut at its length limit")
        return None
