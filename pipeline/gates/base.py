"""A quality gate takes the rows of the whole dataset and returns the rows it keeps plus a Reject per drop.

Gates run after every shard is done (dedup, MCQ balance and the split need the whole dataset).
Each one has a short name; its rejects are written under rejects/gate.<name>/.

Most gates judge one row at a time: those subclass `RowGate` and implement `check(row)`, which
returns a `Flag` (reason + one-line detail) or None. The same `check` serves finalize, the tests
and bench/gates.py (which scores each gate against hand-labelled rows).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

from schemas import QARow, Reject, RejectReason


class Flag(NamedTuple):
    """Why a row is dropped."""

    reason: RejectReason
    detail: str


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


class RowGate(Gate):
    """A gate whose verdict on a row depends on that row alone."""

    @abstractmethod
    def check(self, row: QARow) -> Flag | None:
        """A Flag when the row must be dropped, else None."""

    def keep(self, row: QARow) -> QARow:
        """The row as kept (a gate may fill a field, e.g. the split)."""
        return row

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        kept, rejects = [], []
        for row in rows:
            flag = self.check(row)
            if flag is None:
                kept.append(self.keep(row))
            else:
                rejects.append(self.reject(row, flag.reason, flag.detail))
        return kept, rejects
