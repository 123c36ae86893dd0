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


class LabelSource(StrEnum):
    PRINTED = "printed"  # the letter printed on the figure, read by OCR
    READING_ORDER = "reading_order"  # no letter could be read: A, B, C... in reading order, a name only
    SUPPLIED = "supplied"  # the input named the panel's letter itself


class PairOutcome(StrEnum):
    """Whether a panel got its sub-caption, and if not, why."""

    PAIRED = "paired"
    UNLABELLED = "unlabelled-panel"  # no printed letter was read with confidence
    CAPTION_NOT_SPLIT = "caption-not-split"  # the caption has no per-panel parts
    LETTER_NOT_IN_CAPTION = "letter-not-in-caption"  # printed letter, but the caption has no part for it
    LETTERS_DISAGREE = "letters-disagree"  # the caption names letters not printed, or most printed ones are not in it


MIN_LABEL_CONFIDENCE = 0.7  # a printed letter read below this is not trusted for pairing


class Pairing(BaseModel):
    outcome: PairOutcome
    text: str | None = None
    detail: str = ""


class Box(BaseModel):
    """Axis-aligned box, x0 < x1 and y0 < y1, pixels (int) or normalised to 0-1 (float)."""

    x0: float
    y0: float
    x1: float
    y1: float


class Panel(BaseModel):
    label: str = Field(description="unique panel key: the printed label upper-cased (A, B1) when printed, "
                       "else a reading-order letter that names the crop and claims nothing")
    box: Box = Field(description="pixel box in the full image")
    box_norm: Box = Field(description="box normalised by image width/height, 0-1")
    confidence: float = Field(ge=0.0, le=1.0)
    source: PanelSource
    method: str = Field(description="how the box was obtained, e.g. xy-cut, yolo, whole-image")
    printed_label: str | None = Field(None, description='label as printed, without brackets: "b", "B", "b1"')
    label_confidence: float = Field(0.0, ge=0.0, le=1.0, description="recogniser score of the printed label")
    label_source: LabelSource = LabelSource.READING_ORDER

    @property
    def letter(self) -> str | None:
        """Upper-case panel letter a trusted printed label gives ("b1" -> "B"), else None."""
        if self.label_source is LabelSource.READING_ORDER or not self.printed_label:
            return None
        if self.label_confidence < MIN_LABEL_CONFIDENCE:
            return None
        return self.printed_label[0].upper()


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

    def panel(self, label: str) -> Panel | None:
        return next((p for p in self.panels if p.label == label), None)

    @property
    def caption_letters(self) -> list[str]:
        return list(dict.fromkeys(sc.label.upper() for sc in self.sub_captions))

    @property
    def grounded(self) -> bool:
        """Every panel of a compound figure carries a trusted printed letter."""
        return len(self.panels) > 1 and all(p.letter for p in self.panels)

    def pairing(self, label: str) -> Pairing:
        """The sub-caption of panel `label` by its printed letter, or why there is none.

        Letters match case-insensitively; sub-panel b1 belongs to caption part (b); a range (A-C)
        was already split into A, B and C. A panel without a trusted printed letter is never
        paired, however many panels and caption parts there are: the order is not evidence. If the
        caption names a letter that was not found printed, no panel of the figure is paired.
        """
        panel = self.panel(label)
        if panel is None or panel.letter is None:
            why = "no such panel" if panel is None else "no printed letter was read with confidence"
            return Pairing(outcome=PairOutcome.UNLABELLED, detail=f"panel {label}: {why}")
        if not self.sub_captions:
            return Pairing(outcome=PairOutcome.CAPTION_NOT_SPLIT, detail=f"panel {label}: the caption has no per-panel parts")
        printed = {p.letter for p in self.panels if p.letter}
        written = set(self.caption_letters)
        # More caption letters missing from the figure than panels without a trusted letter: a
        # letter went unread and its panel sits in a neighbour's cell (or the caption describes
        # other panels), so no crop of the figure is safe to pair.
        seen = printed | {p.printed_label[0].upper() for p in self.panels if p.printed_label}
        unlettered = sum(1 for p in self.panels if not p.letter)
        if len(written - seen) > unlettered or len(printed & written) * 2 < len(printed):
            return Pairing(outcome=PairOutcome.LETTERS_DISAGREE,
                           detail=f"panel {label}: printed letters {''.join(sorted(printed))} "
                                  f"vs caption letters {''.join(sorted(written))}")
        text = next((sc.text for sc in self.sub_captions if sc.label.upper() == panel.letter), None)
        if text is None:
            return Pairing(outcome=PairOutcome.LETTER_NOT_IN_CAPTION,
                           detail=f"panel {label}: printed letter {panel.printed_label} has no caption part")
        return Pairing(outcome=PairOutcome.PAIRED, text=text)

    def sub_caption(self, label: str) -> str | None:
        """The caption part of panel `label`, only when paired by its printed letter."""
        return self.pairing(label).text


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
