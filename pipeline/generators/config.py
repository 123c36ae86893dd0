"""How many QAs each generator writes per figure and the knobs that change what it writes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

DEFAULT_PER_FIGURE = {
    "text_qa": 2,
    "bbox_qa": 2,
    "single_panel_qa": 2,
    "multi_panel_qa": 1,
    "mcq_selection": 1,
    "compound_qa": 1,
}


class GenerationConfig(BaseModel):
    seed: int = Field(0, description="seeds every choice: panels, pairs, distractors, MCQ letters")
    per_figure: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_PER_FIGURE), description="QAs per figure, by task"
    )
    default_per_figure: int = Field(1, ge=0, description="for tasks missing from per_figure")
    include_context: bool = Field(True, description="show the caption/sub-caption context with the question")
    max_context_chars: int = Field(1500, ge=0, description="context shown to the trainee is cut to this")
    max_prompt_chars: int = Field(1200, ge=100, description="each text field in a prompt is cut to this")
    send_images: bool = Field(False, description="attach images to generator requests (needs a vision model)")
    temperature: float = Field(0.0, ge=0.0)
    max_tokens: int = Field(160, ge=16, description="per request; generators with short outputs cap it lower")
    bbox_tolerance: float = Field(0.05, ge=0.0, le=0.5, description="same row/column tolerance, fraction of image")
    bbox_use_model: bool = Field(True, description="let the model phrase bbox questions (geometry gives the answer)")
    multi_panel_max: int = Field(3, ge=2, le=3)
    mcq_options: int = Field(4, ge=2, le=8)
    compound_min_panels: int = Field(2, ge=1)
    min_question_words: int = Field(3, ge=1)

    def count(self, task: str) -> int:
        return self.per_figure.get(task, self.default_per_figure)

    def fingerprint(self, task: str) -> dict[str, Any]:
        """The settings that change one task's output (other tasks' counts excluded)."""
        data = self.model_dump(exclude={"per_figure", "default_per_figure"})
        data["count"] = self.count(task)
        return data
