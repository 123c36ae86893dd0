"""compound_qa: a question about the whole multi-panel figure."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.engine.types import ChatResult
from pipeline.generators.base import FigureBundle, Generator, ShardPlan
from pipeline.generators.registry import register
from pipeline.stages.base import WorkItem
from schemas import QARow, Reject, RejectReason

GENERIC_FOCUS = ["how the panels relate to each other", "what the figure as a whole shows", "the comparison the figure makes"]


@register
class CompoundQA(Generator):
    task = "compound_qa"
    prompt = "compound_qa"

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        key0 = self.qa_id(fig, 0)
        if not fig.has_image or not fig.image_path:
            yield self.reject(key0, fig, RejectReason.IMAGE_MISSING, f"{fig.figure_id}: the figure has no image")
            return
        if len(fig.panels) < self.config.compound_min_panels:
            yield self.reject(
                key0,
                fig,
                RejectReason.NO_PANELS,
                f"{fig.figure_id}: {len(fig.panels)} panel(s), compound_qa needs {self.config.compound_min_panels}",
            )
            return
        if bundle.summary is None:
            yield self.reject(key0, fig, RejectReason.MISSING_INPUT, f"{fig.figure_id}: no stage 1 summary for this figure")
            return
        perc = bundle.figure_perception
        layout = perc.facts.layout if perc and perc.facts else f"{len(fig.panels)} panels"
        topics = list(bundle.summary.key_findings) + (list(perc.observations) if perc else []) + GENERIC_FOCUS
        for n in range(self.count):
            key = self.qa_id(fig, n)
            request = self.request(
                key,
                images=[fig.image_path],
                caption=self.text(fig.caption),
                summary=self.text(bundle.summary.summary),
                description=self.text(perc.description if perc else ""),
                layout=layout,
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
                image_paths=[fig.image_path],
                context=self.context_text(fig.caption),
                panel_labels=[p.label for p in fig.panels],
                provenance=self.model_provenance(result, item.request),
            )
        ]
