"""multi_panel_qa: a question across 2-3 panel crops of one figure, shown as Image-1, Image-2, ..."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipeline.engine.types import ChatRequest
from pipeline.generators.base import FigureBundle, ModelQAGenerator
from pipeline.generators.config import TaskSettings
from pipeline.generators.registry import register
from schemas import RejectReason
from schemas.generation import QAPairOutput


class MultiPanelSettings(TaskSettings):
    max_panels: int = Field(3, ge=2, le=3, description="panel crops per question: 2 up to this")


@register
class MultiPanelQA(ModelQAGenerator):
    task = "multi_panel_qa"
    prompt = "multi_panel_qa"
    output_model = QAPairOutput
    settings_model = MultiPanelSettings
    settings: MultiPanelSettings

    def choose(self, bundle: FigureBundle, n: int) -> list[str]:
        labels = bundle.panels_with_crops()
        rng = self.rng(bundle.figure.figure_id, n)
        k = rng.randint(2, min(self.settings.max_panels, len(labels)))
        picked = set(rng.sample(labels, k))
        return [lbl for lbl in labels if lbl in picked]  # keep reading order

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        if len(bundle.panels_with_crops()) < 2:
            return RejectReason.NO_PANELS, "fewer than 2 panel crops from stage 3"
        return None

    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        fig = bundle.figure
        labels = self.choose(bundle, n)
        panels = [
            {
                "name": f"Image-{i}",
                "caption": self.text(fig.sub_caption(lbl) or ""),
                "description": self.text(bundle.panel_perception[lbl].description),
            }
            for i, lbl in enumerate(labels, 1)
        ]
        paths = [bundle.panel_perception[lbl].image_path for lbl in labels]
        return self.request(key, images=paths, panels=panels), labels

    def row_fields(self, bundle: FigureBundle, target: list[str]) -> dict[str, Any]:
        fig, labels = bundle.figure, target
        boxes = {p.label: p.box_norm for p in fig.panels}
        return {
            "image_paths": [bundle.panel_perception[lbl].image_path for lbl in labels],
            "context": self.context_text(fig.caption),
            "panel_labels": labels,
            "boxes": [boxes[lbl] for lbl in labels if lbl in boxes] if all(lbl in boxes for lbl in labels) else [],
        }
