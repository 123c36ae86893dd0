"""single_panel_qa: a question about one panel crop, from its sub-caption and what stage 3 saw in it."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.engine.types import ChatResult
from pipeline.generators.base import FigureBundle, Generator, ShardPlan
from pipeline.generators.registry import register
from pipeline.stages.base import WorkItem
from schemas import QARow, Reject, RejectReason

GENERIC_FOCUS = ["what the image shows", "the type of image or plot"]


@register
class SinglePanelQA(Generator):
    task = "single_panel_qa"
    prompt = "single_panel_qa"

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        labels = bundle.panels_with_crops()
        if not labels:
            yield self.reject(
                self.qa_id(fig, 0), fig, RejectReason.NO_PANELS, f"{fig.figure_id}: no panel crops from stage 3"
            )
            return
        self.rng(fig.figure_id).shuffle(labels)
        for n in range(self.count):
            label = labels[n % len(labels)]
            perc = bundle.panel_perception[label]
            topics = list(perc.observations) + GENERIC_FOCUS
            key = self.qa_id(fig, n)
            sub_caption = fig.sub_caption(label) or fig.caption
            request = self.request(
                key,
                images=[perc.image_path],
                sub_caption=self.text(sub_caption),
                description=self.text(perc.description),
                observations=self.text("; ".join(perc.observations)),
                focus=topics[(n // len(labels)) % len(topics)],
            )
            yield WorkItem(key, request, context=(bundle, label))

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        bundle, label = item.context
        fig = bundle.figure
        bad = self.failed(item, fig, result)
        if bad:
            return bad
        qa = self.clean_qa(item, fig, result)
        if isinstance(qa, Reject):
            return qa
        question, answer = qa
        panel = next((p for p in fig.panels if p.label == label), None)
        return [
            self.make_row(
                fig,
                item.key,
                question=question,
                answer=answer,
                image_paths=[bundle.panel_perception[label].image_path],
                context=self.context_text(fig.sub_caption(label) or fig.caption),
                panel_labels=[label],
                boxes=[panel.box_norm] if panel else [],
                provenance=self.model_provenance(result, item.request),
            )
        ]
