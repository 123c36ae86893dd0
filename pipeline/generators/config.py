"""What every QA generator shares (counts, sampling, prompt and context budgets) and where each
generator's own settings live (`task_settings`, validated by the generator's settings model)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stages.common import ModelOptions

DEFAULT_PER_FIGURE = {
    "text_qa": 2,
    "bbox_qa": 2,
    "single_panel_qa": 2,
    "multi_panel_qa": 1,
    "mcq_selection": 1,
    "compound_qa": 1,
}

S = TypeVar("S", bound="TaskSettings")


class TaskSettings(BaseModel):
    """Base of a generator's own settings model (declared in the generator's module). Unknown keys
    are an error: a misspelt setting must not silently fall back to its default."""

    model_config = ConfigDict(extra="forbid")


class GenerationConfig(ModelOptions):
    # A task's own knobs moved into task_settings (bbox_tolerance -> task_settings.bbox_qa.tolerance, ...):
    # an old or misspelt field name is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="seeds every choice (panels, pairs, distractors, MCQ letters) and the sampling")
    max_tokens: int = Field(160, ge=16, description="per request; generators with short outputs cap it lower")
    per_figure: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_PER_FIGURE), description="QAs per figure, by task"
    )
    default_per_figure: int = Field(1, ge=0, description="for tasks missing from per_figure")
    include_context: bool = Field(True, description="show the caption/sub-caption context with the question")
    max_context_chars: int = Field(1500, ge=0, description="context shown to the trainee is cut to this")
    max_prompt_chars: int = Field(1200, ge=100, description="each text field in a prompt is cut to this")
    send_images: bool = Field(False, description="attach images to generator requests (needs a vision model)")
    min_question_words: int = Field(3, ge=1)
    task_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="each generator's own settings by task, e.g. {'mcq_selection': {'options': 5}}; "
        "see the generator's settings model for the names and defaults",
    )

    def count(self, task: str) -> int:
        return self.per_figure.get(task, self.default_per_figure)

    def settings_for(self, task: str, model: type[S]) -> S:
        return model.model_validate(self.task_settings.get(task, {}))

    def fingerprint(self, task: str) -> dict[str, Any]:
        """The shared settings that change every task's output, plus this task's count (a task's own
        settings are added by its generator; other tasks' counts and settings stay out)."""
        data = self.model_dump(exclude={"per_figure", "default_per_figure", "task_settings"})
        data["count"] = self.count(task)
        return data
