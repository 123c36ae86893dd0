"""text_qa: questions the caption, summary and background answer, with no image."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.engine.types import ChatResult
from pipeline.generators.base import FigureBundle, Generator, ShardPlan
from pipeline.generators.registry import register
from pipeline.stages.base import WorkItem
from schemas import QARow, Reject, RejectReason

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
class TextQA(Generator):
    task = "text_qa"
    prompt = "text_qa"

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        if bundle.summary is None:
            yield self.reject(
                self.qa_id(fig, 0), fig, RejectReason.MISSING_INPUT, f"{fig.figure_id}: no stage 1 summary for this figure"
            )
            return
        topics = focuses(bundle)
        background = bundle.knowledge.background if bundle.knowledge else ""
        for n in range(self.count):
            key = self.qa_id(fig, n)
            request = self.request(
                key,
                caption=self.text(fig.caption),
                summary=self.text(bundle.summary.summary),
                background=self.text(background),
                focus=topics[n % len(topics)],
            )
            yield WorkItem(key, request, context=bundle)

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        fig = item.context.figure
        bad = self.failed(item, fig, result)
        if bad:
            return bad
        qa = self.clean_qa(item, fig, result)
        if isinstance(qa, Reject):
            return qa
        question, answer = qa
        return [
            self.make_row(
                fig,
                item.key,
                question=question,
                answer=answer,
                context=self.context_text(fig.caption),
                provenance=self.model_provenance(result, item.request),
            )
        ]
