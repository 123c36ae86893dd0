"""Schema gate: records must validate as QARow and be internally consistent.

Checks: the record validates; qa_id is unique; the conversation starts with a human turn, ends with
a gpt turn equal to the answer and alternates; `<image>` placeholders equal the number of images;
every image file exists; MCQ rows have options and a correct letter that names one of them.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from pipeline.gates.base import Flag, RowGate
from schemas import QARow, Reject, RejectReason


def conversation_problem(row: QARow) -> str | None:
    speakers = [t.speaker for t in row.conversation]
    if not speakers or speakers[0] != "human" or speakers[-1] != "gpt":
        return f"conversation must start with human and end with gpt, got {speakers}"
    if any(a == b for a, b in zip(speakers, speakers[1:])):
        return f"conversation turns do not alternate: {speakers}"
    if row.conversation[-1].value != row.answer:
        return "the last gpt turn differs from the answer field"
    placeholders = sum(t.value.count("<image>") for t in row.conversation)
    if placeholders != len(row.image_paths):
        return f"{placeholders} <image> placeholder(s) for {len(row.image_paths)} image(s)"
    return None


def mcq_problem(row: QARow) -> str | None:
    if row.answer_letter is None and not row.options:
        return None
    if not row.options or row.answer_letter is None:
        return "an MCQ needs both options and answer_letter"
    if row.answer_letter not in string.ascii_uppercase[: len(row.options)]:
        return f"answer letter {row.answer_letter!r} does not name one of {len(row.options)} options"
    return None


class SchemaGate(RowGate):
    name: ClassVar[str] = "schema"

    def validate(self, records: list[dict[str, Any]]) -> tuple[list[QARow], list[Reject]]:
        """Raw Parquet records -> valid rows; everything else becomes a Reject."""
        rows, rejects = self.parse(records)
        kept, more = self.apply(rows)
        return kept, rejects + more

    def parse(self, records: list[dict[str, Any]]) -> tuple[list[QARow], list[Reject]]:
        """Records that are QA rows at all, as rows; the others as Rejects (no row checks yet)."""
        rows, rejects = [], []
        for i, record in enumerate(records):
            try:
                rows.append(QARow.model_validate(record))
            except ValidationError as exc:
                item = str(record.get("qa_id") or f"record {i}")
                rejects.append(
                    Reject(item=item, stage=self.stage, reason=RejectReason.SCHEMA_INVALID,
                           detail=f"{item}: {exc.error_count()} schema error(s): {exc.errors()[0]['msg']}",
                           article_id=record.get("article_id"), figure_id=record.get("figure_id"))
                )
        return rows, rejects

    def check(self, row: QARow) -> Flag | None:
        problem = conversation_problem(row) or mcq_problem(row)
        if problem:
            return Flag(RejectReason.SCHEMA_INVALID, problem)
        missing = [p for p in row.image_paths if not Path(p).is_file()]
        if missing:
            return Flag(RejectReason.IMAGE_MISSING, f"image file(s) missing: {missing}")
        return None

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        kept, rejects, seen = [], [], set()
        for row in rows:
            flag = Flag(RejectReason.DUPLICATE_ID, "the qa_id occurs more than once") if row.qa_id in seen else self.check(row)
            if flag is not None:
                rejects.append(self.reject(row, flag.reason, flag.detail))
                continue
            seen.add(row.qa_id)
            kept.append(row)
        return kept, rejects
