"""Optional LLM judge gate: a model grades each model-written row for faithfulness (is the answer
supported by what the row shows?) and answerability (can a reader answer from it?), 1-5 each,
through the engine (template prompts/judge_row.yaml). A row scoring below `threshold` on either is
dropped as judge-low. Rows the code wrote (MCQ letters, geometry, rules) are not sent. A verdict
that never came back keeps the row: the judge adds a check, it never becomes a single point of
failure. Off unless a judge model is configured (FinalizeConfig.judge.role).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, Field

from pipeline.engine.settings import ModelRole
from pipeline.engine.types import Sampling
from pipeline.gates.base import Gate
from pipeline.prompts import load_template
from schemas import Method, QARow, Reject, RejectReason
from schemas.generation import RowJudgeOutput

TEMPLATE = "judge_row"


class JudgeConfig(BaseModel):
    role: ModelRole | None = Field(None, description="the judge model's endpoint; None: no judge gate")
    threshold: int = Field(3, ge=1, le=5, description="drop rows scoring below this on either score")
    max_tokens: int = Field(128, ge=16)
    support_chars: int = Field(1500, ge=0, description="caption/description text shown to the judge")


class JudgeGate(Gate):
    name: ClassVar[str] = "judge"

    def __init__(self, engine, config: JudgeConfig, support: Mapping[str, str] | None = None) -> None:
        self.engine = engine
        self.config = config
        self.support = support or {}
        self.unjudged = 0  # rows kept because no verdict came back

    def judged(self, row: QARow) -> bool:
        return not (row.answer_letter or row.relation is not None
                    or row.provenance.method in (Method.RULE, Method.GEOMETRY))

    def verdicts(self, rows: list[QARow]) -> dict[str, RowJudgeOutput]:
        """qa_id -> the judge's verdict, for the judged rows whose verdict came back."""
        tpl = load_template(TEMPLATE)
        sampling = Sampling(temperature=0.0, max_tokens=self.config.max_tokens)
        requests = [
            tpl.request(row.qa_id, sampling=sampling, context=row.context, question=row.question, answer=row.answer,
                        n_images=len(row.image_paths),
                        support=self.support.get(row.figure_id, "")[: self.config.support_chars] if row.image_paths else "")
            for row in rows if self.judged(row)
        ]
        return {r.key: r.parsed for r in self.engine.run(requests) if r.ok and isinstance(r.parsed, RowJudgeOutput)}

    def low(self, verdict: RowJudgeOutput) -> bool:
        """The verdict drops its row."""
        return min(verdict.faithfulness, verdict.answerability) < self.config.threshold

    def apply(self, rows: list[QARow]) -> tuple[list[QARow], list[Reject]]:
        verdicts = self.verdicts(rows)
        kept, rejects = [], []
        for row in rows:
            verdict = verdicts.get(row.qa_id)
            if not self.judged(row):
                kept.append(row)
            elif verdict is None:
                self.unjudged += 1
                kept.append(row)
            elif self.low(verdict):
                rejects.append(self.reject(row, RejectReason.JUDGE_LOW,
                                           f"judge scored faithfulness {verdict.faithfulness}, answerability "
                                           f"{verdict.answerability} (< {self.config.threshold}): {verdict.reason}"))
            else:
                kept.append(row)
        return kept, rejects
