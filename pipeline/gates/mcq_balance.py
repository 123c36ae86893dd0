"""MCQ letter balance gate: per task, each correct letter's share stays within `tolerance` of uniform.

"Within tolerance" means |count - n/k| <= max(tolerance * n/k, 1) for k options (relative to the
uniform share; the slack of one item lets small sets pass when they are as even as they can be).
mode "rebalance" (default) moves the correct option of surplus rows to short letters: the option
in the correct slot is swapped with the one in the target slot, together with its image when the
options are the images (one image per option, as mcq_selection writes), and the row is re-rendered.
Nothing is dropped in this mode. mode "drop" removes surplus rows (last by qa_id hash) instead.
"""

from __future__ import annotations

import hashlib
import string
from collections import Counter
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from pipeline.gates.base import Gate
from pipeline.generators.conversation import mcq_answer, rerender
from schemas import QARow, Reject, RejectReason

LETTERS = string.ascii_uppercase


class MCQBalanceConfig(BaseModel):
    tolerance: float = Field(0.05, ge=0.0, le=1.0)
    mode: Literal["rebalance", "drop"] = "rebalance"


def within(counts: Counter, n: int, k: int, tolerance: float) -> bool:
    uniform = n / k
    return all(abs(counts.get(LETTERS[i], 0) - uniform) <= max(tolerance * uniform, 1) for i in range(k))


def move_answer(row: QARow, letter: str) -> QARow:
    """The same question with its correct option moved to `letter`."""
    a, b = LETTERS.index(row.answer_letter), LETTERS.index(letter)
    options, images = list(row.options), list(row.image_paths)
    if len(images) == len(options):  # options are positional names of the images: move the images
        images[a], images[b] = images[b], images[a]
    else:
        options[a], options[b] = options[b], options[a]
    return rerender(row, options=options, image_paths=images, answer_letter=letter, answer=mcq_answer(letter, options))


def _order(row) -> str:
    return hashlib.sha256(row.qa_id.encode()).hexdigest()


class MCQBalanceGate(Gate):
    name: ClassVar[str] = "mcq_balance"

    def __init__(self, config: MCQBalanceConfig | None = None) -> None:
        self.config = config or MCQBalanceConfig()

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        groups: dict[tuple[str, int], list[QARow]] = {}
        others: list[QARow] = []
        for row in rows:
            if row.answer_letter and row.options:
                groups.setdefault((row.task, len(row.options)), []).append(row)
            else:
                others.append(row)
        kept, rejects = list(others), []
        for (_task, k), group in sorted(groups.items()):
            fixed, dropped = self._balance(group, k)
            kept.extend(fixed)
            rejects.extend(dropped)
        return kept, rejects

    def _balance(self, group: list[QARow], k: int) -> tuple[list[QARow], list[Reject]]:
        kept, moves, rejects = self.plan(group, k)
        return kept + [move_answer(row, letter) for row, letter in moves], rejects

    def plan(self, group: list, k: int) -> tuple[list, list[tuple], list[Reject]]:
        """(rows kept as they are, (row, letter its correct option moves to), rejects) for one
        (task, option count) group; the rows need only qa_id and answer_letter (and article_id,
        figure_id for a reject), so a streaming finalize can plan on compact keys."""
        by_letter: dict[str, list] = {LETTERS[i]: [] for i in range(k)}
        for row in sorted(group, key=_order):
            by_letter[row.answer_letter].append(row)
        counts = Counter({letter: len(rs) for letter, rs in by_letter.items()})
        if within(counts, len(group), k, self.config.tolerance):
            return group, [], []
        if self.config.mode == "drop":
            kept, rejects = self._drop(by_letter, k)
            return kept, [], rejects
        n = len(group)
        target = {LETTERS[i]: n // k + (1 if i < n % k else 0) for i in range(k)}
        surplus = [r for letter, rs in by_letter.items() for r in rs[target[letter]:]]
        short = [letter for letter in by_letter for _ in range(target[letter] - len(by_letter[letter]))]
        out = [r for letter, rs in by_letter.items() for r in rs[: target[letter]]]
        return out, list(zip(surplus, short, strict=True)), []

    def _drop(self, by_letter: dict[str, list], k: int) -> tuple[list, list[Reject]]:
        rejects = []
        while not within(Counter({lt: len(rs) for lt, rs in by_letter.items()}), sum(map(len, by_letter.values())), k, self.config.tolerance):
            letter = max(by_letter, key=lambda lt: len(by_letter[lt]))
            row = by_letter[letter].pop()
            rejects.append(self.reject(row, RejectReason.MCQ_IMBALANCE, f"dropped: letter {letter} is over-represented"))
        return [r for rs in by_letter.values() for r in rs], rejects
