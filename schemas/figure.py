"""Ingested articles, figures and panels: the rows every later stage reads."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class SourceFormat(StrEnum):
    JATS = "jats"  # JATS / PMC .nxml with an image folder
    M3LLM = "m3llm"  # pre-extracted JSON records + YOLO sub-figure labels
    LLAVA_MED = "llava-med"  # LLaVA-Med style caption records


class PanelSource(StrEnum):
    SUPPLIED = "supplied"  # boxes came with the input (e.g. YOLO label files)
    DETECTED = "detected"  # our compound-figure separation found them
    WHOLE = "whole"  # single-panel figure: the panel is the whole image


class Box(BaseModel):
    """Axis-aligned box, x0 < x1 and y0 < y1, pixels (int) or normalised to 0-1 (float)."""

    x0: float
    y0: float
    x1: float
    y1: float


class Panel(BaseModel):
    label: str = Field(description="panel label in reading order: A, B, C, ...")
    box: Box = Field(description="pixel box in the full image")
    box_norm: Box = Field(description="box normalised by image width/height, 0-1")
    confidence: float = Field(ge=0.0, le=1.0)
    source: PanelSource
    method: str = Field(description="how the box was obtained, e.g. xy-cut, yolo, whole-image")


class SubCaption(BaseModel):
    label: str = Field(description="panel label the text belongs to, e.g. A")
    text: str


class Figure(BaseModel):
    figure_id: str = Field(description="stable id: <article_id>/<figure xml id or label>")
    article_id: str = Field(description="PMCID, DOI or file stem")
    label: str | None = Field(None, description='figure label as printed, e.g. "Figure 2"')
    caption: str = Field(description="full caption, markup stripped")
    sub_captions: list[SubCaption] = Field(default_factory=list, description="per-panel caption parts")
    mentions: list[str] = Field(default_factory=list, description="cleaned paragraphs citing the figure")
    image_path: str | None = Field(None, description="absolute path of the image; None when none shipped")
    image_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    panels: list[Panel] = Field(default_factory=list)
    has_image: bool = True
    license: str | None = None
    source_format: SourceFormat
    source_path: str = Field(description="input file the figure came from")
    article_title: str | None = None

    def sub_caption(self, label: str) -> str | None:
        for sc in self.sub_captions:
            if sc.label == label:
                return sc.text
        return None


class Article(BaseModel):
    article_id: str
    title: str | None = None
    abstract: str | None = None
    license: str | None = Field(None, description="license URL/text from the article, or the PMC file list's code (e.g. CC BY)")
    doi: str | None = None
    pmcid: str | None = None
    pmid: str | None = None
    citation: str | None = Field(None, description='journal citation from the PMC file list, e.g. "Nature. 2001; 3(1):55-60"')
    source_format: SourceFormat
    source_path: str = Field(description="input file (or archive) the article came from")
    source_sha256: str
    figure_ids: list[str] = Field(default_factory=list)
    has_images: bool = Field(description="False when the article shipped no figure image at all")
