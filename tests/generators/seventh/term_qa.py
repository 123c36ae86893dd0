"""term_qa: a question about one technical term the figure relies on, answered from the knowledge stage."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipeline.engine.types import ChatRequest
from pipeline.generators.base import FigureBundle, ModelQAGenerator
from pipeline.generators.config import TaskSettings
from pipeline.generators.registry import register
from schemas import RejectReason
from schemas.generation import QAPairOutput


class TermSettings(TaskSettings):
    max_terms: int = Field(3, ge=1, description="terms a figure's questions may be about")


@register
class TermQA(ModelQAGenerator):
    """Questions whose answer needs the term's meaning, not just the caption's words."""

    task = "term_qa"
    prompt = "term_qa"
    output_model = QAPairOutput
    settings_model = TermSettings
    settings: TermSettings

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        if bundle.knowledge is None or not bundle.knowledge.terms:
            return RejectReason.MISSING_INPUT, "no terms from the knowledge stage"
        return None

    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        terms = bundle.knowledge.terms[: self.settings.max_terms]
        term = terms[n % len(terms)]
        request = self.request(key, caption=self.text(bundle.figure.caption), term=term.term,
                               definition=self.text(term.explanation))
        return request, term.term

    def row_fields(self, bundle: FigureBundle, target: str) -> dict[str, Any]:
        return {"context": self.context_text(bundle.figure.caption)}
