"""What every input format shares: the per-file result, figure ids, and attaching an image
(hash, size, panels) to a figure, with image failures turned into Reject rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.errors import IngestError
from pipeline.ingest.images import load_image
from pipeline.ingest.grounding import ground_panels, letter_panels
from pipeline.ingest.panels import whole_panel
from schemas.figure import Article, Figure, Panel
from schemas.reject import Reject, RejectReason

STAGE = "ingest"


@dataclass
class ParsedFile:
    """Everything one input file produced."""

    articles: list[Article] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class ImageFields:
    image_path: str | None = None
    image_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    panels: list[Panel] = field(default_factory=list)
    has_image: bool = False
    note: str | None = None  # e.g. "converted from CMYK"


def slug(text: str) -> str:
    """'Figure 2.' -> 'figure-2' (ids must be stable and filesystem/URL friendly)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def reject(item: str, reason: RejectReason, detail: str, *, article_id: str | None = None,
           figure_id: str | None = None, raw: str | None = None) -> Reject:
    return Reject(item=item, stage=STAGE, reason=reason, detail=detail, article_id=article_id,
                  figure_id=figure_id, raw=raw[:2000] if raw else None)


def check_caption(caption: str, item: str, figure_id: str, article_id: str, config: IngestConfig) -> Reject | None:
    if not caption.strip():
        return reject(item, RejectReason.CAPTION_MISSING, f"{figure_id}: figure has no caption text",
                      article_id=article_id, figure_id=figure_id)
    if len(caption) > config.max_caption_chars:
        return reject(item, RejectReason.CAPTION_TOO_LONG,
                      f"{figure_id}: caption has {len(caption)} characters, limit is {config.max_caption_chars}",
                      article_id=article_id, figure_id=figure_id, raw=caption[:200])
    return None


def attach_image(path: Path, config: IngestConfig, supplied: list[Panel] | None = None) -> ImageFields:
    """Load `path` safely and compute its panels; raises IngestError when the image is unusable."""
    info = load_image(path, max_pixels=config.max_pixels, decode=True)
    if supplied:  # supplied boxes (YOLO files) get the letters printed at their corners
        panels = letter_panels(info.image, supplied) if config.detect_panels and info.image is not None else supplied
    elif config.detect_panels and info.image is not None:
        panels = ground_panels(info.image)
    else:
        panels = [whole_panel((info.width, info.height))]
    note = f"converted from {info.converted_from} to RGB" if info.converted_from else None
    if info.frames > 1:
        note = f"{note + '; ' if note else ''}first of {info.frames} frames used"
    return ImageFields(image_path=str(path), image_sha256=info.sha256, width=info.width, height=info.height,
                       panels=panels, has_image=True, note=note)


def image_or_reject(path: Path, config: IngestConfig, *, figure_id: str, article_id: str,
                    supplied: list[Panel] | None = None) -> tuple[ImageFields, Reject | None]:
    """Image fields for a figure, or empty fields plus a Reject (the figure stays, caption-only)."""
    try:
        return attach_image(path, config, supplied), None
    except IngestError as exc:
        return ImageFields(), reject(str(path), exc.reason, f"{figure_id}: {exc.detail}; figure kept caption-only",
                                     article_id=article_id, figure_id=figure_id)
