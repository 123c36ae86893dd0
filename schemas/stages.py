"""Model output models (what a model must fill, as JSON schema) and the rows stages 1-3 write.

Each `*Output` model is the structured-output contract sent to the model; each `*Row` adds keys
and provenance and is what lands in Parquet.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from schemas.provenance import Provenance


class CaptionSummaryOutput(BaseModel):
    summary: str = Field(description="two to four sentences on what the figure shows")
    modalities: list[str] = Field(description="imaging or plot types, e.g. MRI, histology, bar chart")
    anatomy: list[str] = Field(description="organ systems or anatomical sites; empty if none")
    key_findings: list[str] = Field(description="the main results the figure supports")


class SummaryRow(CaptionSummaryOutput):
    figure_id: str
    article_id: str
    provenance: Provenance


class KnowledgeTerm(BaseModel):
    term: str
    explanation: str


class KnowledgeOutput(BaseModel):
    keywords: list[str] = Field(description="5-10 domain keywords")
    background: str = Field(description="background knowledge a reader needs to interpret the figure")
    terms: list[KnowledgeTerm] = Field(description="key terms with one-sentence explanations")


class KnowledgeRow(KnowledgeOutput):
    figure_id: str
    article_id: str
    provenance: Provenance


class ImageFacts(BaseModel):
    """Numbers measured from pixels; what embedded mode can honestly say about an image."""

    width: int
    height: int
    aspect_ratio: float
    is_grayscale: bool
    dominant_colours: list[str] = Field(description="colour names of the largest colour clusters")
    edge_density: float = Field(description="share of pixels on strong edges, 0-1")
    text_likeness: float = Field(description="0-1 score for dense small high-contrast strokes (labels, axes)")
    brightness: float = Field(description="mean luminance 0-1")
    n_panels: int
    layout: str = Field(description='panel grid, e.g. "2 rows x 3 columns" or "single panel"')


class PerceptionOutput(BaseModel):
    description: str = Field(description="what the image shows, 2-4 sentences")
    observations: list[str] = Field(description="short concrete visual observations")


class PerceptionScope(StrEnum):
    PANEL = "panel"
    FIGURE = "figure"


class PerceptionRow(PerceptionOutput):
    figure_id: str
    article_id: str
    scope: PerceptionScope
    panel_label: str | None = Field(None, description="None for the whole figure")
    image_path: str = Field(description="the panel crop (content-addressed) or the full image")
    facts: ImageFacts | None = None
    provenance: Provenance
