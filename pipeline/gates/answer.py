"""Answer gate: an answer must be present and within length bounds (words; MCQ answers are exempt
from the minimum since "B. Image-2" is a complete answer)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from pipeline.gates.base import Gate
from schemas import QARow, Reject, RejectReason


class AnswerConfig(BaseModel):
    min_words: int = Field(1, ge=1)
    max_words: int = Field(120, ge=1)
    max_words_by_task: dict[str, int] = Field(default_factory=dict)


class AnswerGate(Gate):
    name: ClassVar[str] = "answer"

    def __init__(self, config: AnswerConfig | None = None) -> None:
        self.config = config or AnswerConfig()

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        kept, rejects = [], []
        for row in rows:
            words = len(row.answer.split())
            limit = self.config.max_words_by_task.get(row.task, self.config.max_words)
            if not row.answer.strip():
                rejects.append(self.reject(row, RejectReason.ANSWER_EMPTY, "the answer is empty"))
            elif words > limit or (words < self.config.min_words and not row.answer_letter):
                rejects.append(
                    self.reject(row, RejectReason.ANSWER_LENGTH,
                                f"answer has {words} words, allowed {self.config.min_words}-{limit}")
                )
            else:
                kept.append(row)
        return kept, rejects
