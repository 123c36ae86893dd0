"""Truncation gate: a row whose model text was cut short is dropped.

The engine records why a model stopped (Provenance.finish_reason): "length" when max_tokens ran
out or, for the embedded model, when a string reached the grammar's length bound (the grammar then
closes the JSON mid-word: "The edge-d"). Such rows are rejected, not retried with more tokens: a
model that ran out of room usually rambled or looped, a retry is a second call of unbounded size
at 100k+ figures, and a user who wants longer answers raises --max-tokens (the cache keeps the
rest of the build free). The same holds for a de-leak rewrite that was cut short, and for an
answer that stops on a word no sentence ends on ("... proteins from"): older cache entries and
servers that do not report finish_reason still show the cut.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pipeline.gates.base import Flag, RowGate
from schemas import QARow, RejectReason


# words an answer cannot end on: a model cut short mid-phrase ("... signal transduction proteins from")
DANGLING = frozenset("the a an of in on at to for and or with from by than as its their into between".split())


class TruncatedGate(RowGate):
    name: ClassVar[str] = "truncated"

    def check(self, row: QARow) -> Flag | None:
        if row.provenance.finish_reason == "length":
            return Flag(RejectReason.ANSWER_TRUNCATED,
                        f"the model stopped at its length limit ({row.provenance.tokens_out} tokens): "
                        f"the text ends {(row.question if row.answer_letter else row.answer)[-30:]!r}")
        words = re.findall(r"[A-Za-z]+|[^\sA-Za-z]", row.answer.strip())
        if not row.answer_letter and len(words) > 2 and words[-1].lower() in DANGLING:
            return Flag(RejectReason.ANSWER_TRUNCATED, f"the answer stops mid-phrase, on {words[-1]!r}")
        deleak = row.deleak_provenance
        if deleak is not None and deleak.finish_reason == "length" and row.context != row.context_original:
            return Flag(RejectReason.ANSWER_TRUNCATED, "the de-leak rewrite of the context was cut at its length limit")
        return None
