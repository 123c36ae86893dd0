"""text_qa: questions the caption, summary and background answer, with no image."""

from __future__ import annotations

from typing import Any

from pipeline.engine.types import ChatRequest
from pipeline.generators.base import FigureBundle, ModelQAGenerator
from pipeline.generators.registry import register
from schemas import RejectReason
from schemas.generation import QAPairOutput

GENERIC_FOCUS = ["the main finding", "the method or technique used", "the purpose of the experiment"]


def focuses(bundle: FigureBundle) -> list[str]:
    """What each question should be about: findings first, then terms, keywords, then generic topics."""
    seen: dict[str, None] = {}
    s, k = bundle.summary, bundle.knowledge
    for item in (s.key_findings if s else []) + ([t.term for t in k.terms] + k.keywords if k else []) + GENERIC_FOCUS:
        item = item.strip()
        if item and item.lower() not in {x.lower() for x in seen}:
            seen[item] = None
    return list(seen)


@register
class TextQA(ModelQAGenerator):
    task = "text_qa"
    prompt = "text_qa"
    output_model = QAPairOutput

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        if bundle.summary is None:
            return RejectReason.MISSING_INPUT, "no stage 1 summary for this figure"
        return None

    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        fig = bundle.figure
        topics = focuses(bundle)
        background = bundle.knowledge.background if bundle.knowledge else ""
        request = self.request(
            key,
            caption=self.text(fig.caption),
            summary=self.text(bundle.summary.summary),
            background=self.text(background),
            focus=topics[n % len(topics)],
        )
        return request, None

    def row_fields(self, bundle: FigureBundle, target: None) -> dict[str, Any]:
        return {"context": self.context_text(bundle.figure.caption)}
