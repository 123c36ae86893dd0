"""multi_panel_qa: a question across 2-3 panel crops of one figure, shown as Image-1, Image-2, ..."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.engine.types import ChatResult
from pipeline.generators.base import FigureBundle, Generator, ShardPlan
from pipeline.generators.registry import register
from pipeline.stages.base import WorkItem
from schemas import QARow, Reject, RejectReason


@register
class MultiPanelQA(Generator):
    task = "multi_panel_qa"
    prompt = "multi_panel_qa"

    def choose(self, bundle: FigureBundle, n: int) -> list[str]:
        labels = bundle.panels_with_crops()
        rng = self.rng(bundle.figure.figure_id, n)
        k = rng.randint(2, min(self.config.multi_panel_max, len(labels)))
        picked = set(rng.sample(labels, k))
        return [lbl for lbl in labels if lbl in picked]  # keep reading order

    def plan_figure(self, bundle: FigureBundle, shard: ShardPlan) -> Iterable[WorkItem | Reject]:
        fig = bundle.figure
        if len(bundle.panels_with_crops()) < 2:
            yield self.reject(
                self.qa_id(fig, 0), fig, RejectReason.NO_PANELS, f"{fig.figure_id}: fewer than 2 panel crops from stage 3"
            )
            return
        for n in range(self.count):
            labels = self.choose(bundle, n)
            panels = [
                {
                    "name": f"Image-{i}",
                    "caption": self.text(fig.sub_caption(lbl) or ""),
                    "description": self.text(bundle.panel_perception[lbl].description),
                }
                for i, lbl in enumerate(labels, 1)
            ]
            key = self.qa_id(fig, n)
            paths = [bundle.panel_perception[lbl].image_path for lbl in labels]
            yield WorkItem(key, self.request(key, images=paths, panels=panels), context=(bundle, labels))

    def finish(self, item: WorkItem, result: ChatResult | None) -> list[QARow] | Reject:
        bundle, labels = item.context
        fig = bundle.figure
        bad = self.failed(item, fig, result)
        if bad:
            return bad
        qa = self.clean_qa(item, fig, result)
        if isinstance(qa, Reject):
            return qa
        question, answer = qa
        boxes = {p.label: p.box_norm for p in fig.panels}
        return [
            self.make_row(
                fig,
                item.key,
                question=question,
                answer=answer,
                image_paths=[bundle.panel_perception[lbl].image_path for lbl in labels],
                context=self.context_text(fig.caption),
                panel_labels=labels,
                boxes=[boxes[lbl] for lbl in labels if lbl in boxes] if all(lbl in boxes for lbl in labels) else [],
                provenance=self.model_provenance(result, item.request),
            )
        ]
