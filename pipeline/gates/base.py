"""A quality gate takes the rows of the whole dataset and returns the rows it keeps plus a Reject per drop.

Gates run after every shard is done (dedup, MCQ balance and the split need the whole dataset).
Each one has a short name; its rejects are written under rejects/gate.<name>/.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from schemas import QARow, Reject, RejectReason


class Gate(ABC):
    name: ClassVar[str]

    @property
    def stage(self) -> str:
        return f"gate.{self.name}"

    @abstractmethod
    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        ...

    def reject(self, row: QARow, reason: RejectReason, detail: str) -> Reject:
        return Reject(
            item=row.qa_id,
            stage=self.stage,
            reason=reason,
            detail=f"{row.qa_id}: {detail}",
            article_id=row.article_id,
            figure_id=row.figure_id,
        )
