"""single_panel_qa: a question about one panel crop, from its sub-caption and what stage 3 saw in it."""

from __future__ import annotations

from typing import Any

from pipeline.engine.types import ChatRequest
from pipeline.generators.base import FigureBundle, ModelQAGenerator
from pipeline.generators.registry import register
from schemas import RejectReason
from schemas.generation import QAPairOutput

GENERIC_FOCUS = ["what the image shows", "the type of image or plot"]
WHOLE_CAPTION = "(caption of the whole figure; which part describes this panel is not known) "


def panel_caption(fig, label: str) -> str:
    """The panel's own sub-caption when paired by its printed letter; otherwise the whole caption,
    marked as such so that no sub-caption is claimed for the crop."""
    text = fig.sub_caption(label)
    return text if text is not None else WHOLE_CAPTION + fig.caption


@register
class SinglePanelQA(ModelQAGenerator):
    task = "single_panel_qa"
    prompt = "single_panel_qa"
    output_model = QAPairOutput

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        if not bundle.panels_with_crops():
            return RejectReason.NO_PANELS, "no panel crops from stage 3"
        return None

    def panel_order(self, bundle: FigureBundle) -> list[str]:
        """The figure's cropped panels in a seeded order; question n is about panel n mod count."""
        labels = bundle.panels_with_crops()
        self.rng(bundle.figure.figure_id).shuffle(labels)
        return labels

    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        fig = bundle.figure
        labels = self.panel_order(bundle)
        label = labels[n % len(labels)]
        perc = bundle.panel_perception[label]
        topics = list(perc.observations) + GENERIC_FOCUS
        request = self.request(
            key,
            images=[perc.image_path],
            sub_caption=self.text(panel_caption(fig, label)),
            description=self.text(perc.description),
            observations=self.text("; ".join(perc.observations)),
            focus=topics[(n // len(labels)) % len(topics)],
        )
        return request, label

    def row_fields(self, bundle: FigureBundle, target: str) -> dict[str, Any]:
        fig, label = bundle.figure, target
        panel = next((p for p in fig.panels if p.label == label), None)
        return {
            "image_paths": [bundle.panel_perception[label].image_path],
            "context": self.context_text(fig.sub_caption(label) or fig.caption),  # context: text around the image
            "panel_labels": [label],
            "boxes": [panel.box_norm] if panel else [],
        }
