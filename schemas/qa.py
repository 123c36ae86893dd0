"""One QA schema shared by every generator, before and after de-leakage and gates."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.figure import Box
from schemas.provenance import Provenance


class Turn(BaseModel):
    """One conversation turn in the LLaVA/InternVL convention: {"from": ..., "value": ...}."""

    model_config = ConfigDict(populate_by_name=True)

    speaker: Literal["human", "gpt"] = Field(alias="from")
    value: str


class QARow(BaseModel):
    qa_id: str = Field(description="stable id: <task>/<figure_id>/<n>")
    task: str = Field(description="generator name, e.g. text_qa, bbox_qa, mcq_selection")
    figure_id: str
    article_id: str
    image_paths: list[str] = Field(default_factory=list, description="images in <image> order")
    conversation: list[Turn]
    context: str = Field("", description="context shown with the question (after de-leakage if done)")
    question: str
    answer: str
    options: list[str] = Field(default_factory=list, description="MCQ options, in letter order")
    answer_letter: str | None = Field(None, description="MCQ: correct option letter")
    panel_labels: list[str] = Field(default_factory=list, description="panels the QA is about")
    boxes: list[Box] = Field(default_factory=list, description="normalised boxes of those panels")
    relation: str | None = Field(None, description="bbox QA: geometric relation the answer states")
    context_original: str | None = Field(None, description="context before de-leakage")
    leakage_before: float | None = None
    leakage_after: float | None = None
    split: str | None = Field(None, description="train | eval, assigned per article")
    provenance: Provenance
    deleak_provenance: Provenance | None = None
