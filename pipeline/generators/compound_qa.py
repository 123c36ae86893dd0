"""compound_qa: a question about the whole multi-panel figure."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipeline.engine.types import ChatRequest
from pipeline.generators.base import FigureBundle, ModelQAGenerator
from pipeline.generators.config import TaskSettings
from pipeline.generators.registry import register
from schemas import RejectReason
from schemas.generation import QAPairOutput

GENERIC_FOCUS = ["how the panels relate to each other", "what the figure as a whole shows", "the comparison the figure makes"]


class CompoundSettings(TaskSettings):
    min_panels: int = Field(2, ge=1, description="figures with fewer panels get no compound question")


@register
class CompoundQA(ModelQAGenerator):
    task = "compound_qa"
    prompt = "compound_qa"
    output_model = QAPairOutput
    settings_model = CompoundSettings
    settings: CompoundSettings

    def unusable(self, bundle: FigureBundle) -> tuple[RejectReason, str] | None:
        fig = bundle.figure
        if not fig.has_image or not fig.image_path:
            return RejectReason.IMAGE_MISSING, "the figure has no image"
        if len(fig.panels) < self.settings.min_panels:
            return (
                RejectReason.NO_PANELS,
                f"{len(fig.panels)} panel(s), compound_qa needs {self.settings.min_panels}",
            )
        if bundle.summary is None:
            return RejectReason.MISSING_INPUT, "no stage 1 summary for this figure"
        return None

    def ask(self, key: str, bundle: FigureBundle, n: int) -> tuple[ChatRequest, Any]:
        fig, perc = bundle.figure, bundle.figure_perception
        layout = perc.facts.layout if perc and perc.facts else f"{len(fig.panels)} panels"
        topics = list(bundle.summary.key_findings) + (list(perc.observations) if perc else []) + GENERIC_FOCUS
        request = self.request(
            key,
            images=[fig.image_path],
            caption=self.text(fig.caption),
            summary=self.text(bundle.summary.summary),
            description=self.text(perc.description if perc else ""),
            layout=layout,
            focus=topics[n % len(topics)],
        )
        return request, None

    def row_fields(self, bundle: FigureBundle, target: None) -> dict[str, Any]:
        fig = bundle.figure
        return {
            "image_paths": [fig.image_path],
            "context": self.context_text(fig.caption),
            "panel_labels": [p.label for p in fig.panels],
        }
