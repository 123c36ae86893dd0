"""single_panel_qa: a question about one panel image, from its sub-caption and what stage 3 saw in it.

A compound figure's panels are its stage-3 crops. A figure with one whole-image panel (not compound)
has no crop, since the crop would be the whole image: its one panel is the figure image itself,
described by the figure-level perception row, and its caption is that panel's own caption. So
non-compound figures get a panel-level (image-grounded) question too, not only text-only rows.
"""

from __future__ import annotations

from typing import Any

from pipeline.engine.types import ChatRequest
from pipeline.generators.base import FigureBundle, ModelQAGenerator
from pipeline.generators.registry import register
from schemas import PanelSource, PerceptionRow, RejectReason
from schemas.generation import QAPairOutput

GENERIC_FOCUS = ["what the image shows", "the type of image or plot"]
WHOLE_CAPTION = "(caption of the whole figure; which part describes this panel is not known) "


def single_panel(bundle: FigureBundle) -> bool:
    """The figure is one whole-image panel with an image and a figure-level perception row."""
    fig = bundle.figure
    return (len(fig.panels) == 1 and fig.panels[0].source == PanelSource.WHOLE
            and fig.has_image and bundle.figure_perception is not None)


def panel_images(bundle: FigureBundle) -> dict[str, PerceptionRow]:
    """Panel label -> the perception row of its image: the crops, or the whole image of a single panel."""
    labels = bundle.panels_with_crops()
    if labels:
        return {lbl: bundle.panel_perception[lbl] for lbl in labels}
    if single_panel(bundle):
        return {bundle.figure.panels[0].label: bundle.figure_perception}
    return {}


def panel_caption(bundle: FigureBundle, label: str) -> str:
    """The panel's own sub-caption when paired by its printed letter; the figure caption for a
    single-panel figure (it describes that one panel); otherwise the whole caption, marked as such
    so that no sub-caption is claimed for the crop."""
    fig = bundle.figure
    text = fig.sub_caption(label)
    if text is not None:
        return text
    return fig.caption if single_panel(bundle) else WHOLE_CAPTION + fig.caption


@register
class SinglePanelQA(ModelQAGenerator):
    task = "single_panel_qa"
    prompt = "single_panel_qa"
    output_model = QAPairOutput
    version = "2"  # 2: a single-panel figure's whole image is its panel

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        if panel_images(bundle):
            return None
        fig = bundle.figure
        if len(fig.panels) == 1 and fig.panels[0].source == PanelSource.WHOLE and fig.has_image:
            return RejectReason.NO_PANELS, "single-panel figure without a figure-level perception row from stage 3"
        return RejectReason.NO_PANELS, "no panel crops from stage 3"

    def panel_order(self, bundle: FigureBundle) -> list[str]:
        """The figure's panel images in a seeded order; question n is about panel n mod count."""
        labels = list(panel_images(bundle))
        self.rng(bundle.figure.figure_id).shuffle(labels)
        return labels

    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        labels = self.panel_order(bundle)
        label = labels[n % len(labels)]
        perc = panel_images(bundle)[label]
        topics = list(perc.observations) + GENERIC_FOCUS
        request = self.request(
            key,
            images=[perc.image_path],
            sub_caption=self.text(panel_caption(bundle, label)),
            description=self.text(perc.description),
            observations=self.text("; ".join(perc.observations)),
            focus=topics[(n // len(labels)) % len(topics)],
        )
        return request, label

    def row_fields(self, bundle: FigureBundle, target: str) -> dict[str, Any]:
        fig, label = bundle.figure, target
        panel = next((p for p in fig.panels if p.label == label), None)
        return {
            "image_paths": [panel_images(bundle)[label].image_path],
            "context": self.context_text(fig.sub_caption(label) or fig.caption),  # context: text around the image
            "panel_labels": [label],
            "boxes": [panel.box_norm] if panel else [],
        }
