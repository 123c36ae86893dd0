"""Split gate: assign train/eval per article by a hash of the article id, so no article is in both.

eval when sha256("<seed>:<article_id>") read as a fraction of 2^64 is below `eval_fraction`.
Rows without an article id cannot be placed safely and are dropped.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from pydantic import BaseModel, Field

from pipeline.gates.base import Flag, RowGate
from schemas import QARow, Reject, RejectReason


class SplitConfig(BaseModel):
    eval_fraction: float = Field(0.1, ge=0.0, le=1.0)
    seed: int = 0


def article_split(article_id: str, config: SplitConfig) -> str:
    digest = hashlib.sha256(f"{config.seed}:{article_id}".encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") / 2**64 < config.eval_fraction else "train"


class SplitGate(RowGate):
    name: ClassVar[str] = "split"

    def __init__(self, config: SplitConfig | None = None) -> None:
        self.config = config or SplitConfig()

    def check(self, row: QARow) -> Flag | None:
        if not row.article_id.strip():
            return Flag(RejectReason.MISSING_INPUT, "no article id, so no safe split")
        return None

    def keep(self, row: QARow) -> QARow:
        return row.model_copy(update={"split": article_split(row.article_id, self.config)})

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        kept, rejects = super().apply(rows)
        splits: dict[str, set[str]] = {}
        for row in kept:
            splits.setdefault(row.article_id, set()).add(row.split)
        overlap = [a for a, s in splits.items() if len(s) > 1]
        if overlap:  # impossible by construction; a guard against a future edit
            raise AssertionError(f"articles in both splits: {overlap[:5]}")
        return kept, rejects
