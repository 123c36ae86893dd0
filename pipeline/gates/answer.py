"""Answer gate: an answer must be present, within length bounds (words; MCQ answers are exempt from
the minimum since "B. Image-2" is a complete answer) and not degenerate: an answer of at least
`degenerate_min_words` words whose distinct-word share is below `min_distinct_share`, or that repeats
one word 3-gram three times or more, is the looping text small models produce, not an answer."""

from __future__ import annotations

import re
from collections import Counter
from typing import ClassVar

from pydantic import BaseModel, Field

from pipeline.gates.base import Flag, RowGate
from schemas import QARow, RejectReason


class AnswerConfig(BaseModel):
    min_words: int = Field(1, ge=1)
    max_words: int = Field(120, ge=1)
    max_words_by_task: dict[str, int] = Field(default_factory=dict)
    degenerate_min_words: int = Field(12, ge=3)
    min_distinct_share: float = Field(0.5, ge=0.0, le=1.0)


def degenerate(answer: str, config: AnswerConfig) -> str | None:
    """Why the answer looks like looping text, or None."""
    words = re.findall(r"\w+", answer.lower())
    if len(words) < config.degenerate_min_words:
        return None
    share = len(set(words)) / len(words)
    if share < config.min_distinct_share:
        return f"only {share:.0%} of its {len(words)} words are distinct"
    grams = Counter(zip(words, words[1:], words[2:]))
    gram, count = grams.most_common(1)[0]
    if count >= 3:
        return f"the phrase {' '.join(gram)!r} repeats {count} times"
    return None


class AnswerGate(RowGate):
    name: ClassVar[str] = "answer"

    def __init__(self, config: AnswerConfig | None = None) -> None:
        self.config = config or AnswerConfig()

    def check(self, row: QARow) -> Flag | None:
        words = len(row.answer.split())
        limit = self.config.max_words_by_task.get(row.task, self.config.max_words)
        if not row.answer.strip():
            return Flag(RejectReason.ANSWER_EMPTY, "the answer is empty")
        if words > limit or (words < self.config.min_words and not row.answer_letter):
            return Flag(RejectReason.ANSWER_LENGTH, f"answer has {words} words, allowed {self.config.min_words}-{limit}")
        if (why := degenerate(row.answer, self.config)) is not None:
            return Flag(RejectReason.ANSWER_DEGENERATE, why)
        return None
