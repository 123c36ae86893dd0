"""Pick a few QA rows per task and turn each into what the gallery card shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.report.thumbs import ThumbError, norm_box, thumbnail
from schemas import Box, Figure, Provenance, QARow


@dataclass
class Image:
    caption: str
    uri: str | None  # None: not shown, see `error`
    error: str | None = None
    correct: bool = False  # an image-choice MCQ: this image is the right option


@dataclass
class ProvenanceView:
    label: str  # "generation" or "de-leakage"
    method: str
    model: str
    template: str
    cache_hit: bool
    backend: str | None


@dataclass
class Example:
    row: QARow
    images: list[Image]  # the full figure (when known) first, then other model inputs
    provenances: list[ProvenanceView]
    option_letters: list[str] = field(default_factory=list)


def select(rows: Sequence[QARow], limit: int) -> list[QARow]:
    """Up to `limit` rows in qa_id order, one per figure first so the gallery shows variety."""
    ordered = sorted(rows, key=lambda r: r.qa_id)
    picked: list[QARow] = []
    seen: set[str] = set()
    for r in ordered:
        if len(picked) >= limit:
            break
        if r.figure_id not in seen:
            picked.append(r)
            seen.add(r.figure_id)
    for r in ordered:
        if len(picked) >= limit:
            break
        if r not in picked:
            picked.append(r)
    return sorted(picked, key=lambda r: r.qa_id)


def _resolve(path: str, out_dir: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else out_dir / p


def provenance_view(label: str, p: Provenance) -> ProvenanceView:
    template = p.template_name or "-"
    if p.template_name and p.template_version:
        template = f"{p.template_name}@{p.template_version}"
    return ProvenanceView(label, str(p.method), p.model_id or "none", template, p.cache_hit, p.backend)


def _highlights(row: QARow, figure: Figure) -> list[tuple[str, Box]]:
    size = (figure.width or 1, figure.height or 1)
    if row.boxes:
        labels = row.panel_labels if len(row.panel_labels) == len(row.boxes) else [""] * len(row.boxes)
        return [(label, norm_box(b, *size)) for label, b in zip(labels, row.boxes, strict=True)]
    wanted = set(row.panel_labels)
    return [(p.label, p.box_norm) for p in figure.panels if p.label in wanted]


def _figure_image(row: QARow, figure: Figure | None, out_dir: Path) -> Image | None:
    if figure is None:
        return None
    if not figure.image_path:
        return Image(f"{figure.figure_id}", None, "the figure shipped without an image")
    highlights = _highlights(row, figure)
    hl_labels = {label for label, _ in highlights}
    # Highlighted panels are drawn once, in the highlight colour.
    panels = [(p.label, p.box_norm) for p in figure.panels if p.label not in hl_labels]
    caption = f"{figure.label or figure.figure_id}: {len(figure.panels)} panel(s)"
    try:
        uri = thumbnail(_resolve(figure.image_path, out_dir), panels, highlights)
    except ThumbError as exc:
        return Image(caption, None, str(exc))
    return Image(caption, uri)


def example(row: QARow, figure: Figure | None, out_dir: Path) -> Example:
    images: list[Image] = []
    fig_img = _figure_image(row, figure, out_dir)
    if fig_img is not None:
        images.append(fig_img)
    figure_path = _resolve(figure.image_path, out_dir) if figure and figure.image_path else None
    letters = [chr(ord("A") + i) for i in range(len(row.options))]
    # Image-choice MCQs (one option per image): name each image's option and mark the right one.
    per_image_options = len(row.options) == len(row.image_paths) > 1
    # Model inputs other than the full figure (panel crops) are shown as they are.
    for i, path in enumerate(row.image_paths):
        resolved = _resolve(path, out_dir)
        if resolved == figure_path:
            continue
        caption = f"<image> {i + 1}"
        correct = per_image_options and letters[i] == row.answer_letter
        if per_image_options:
            caption += f" = {letters[i]}" + (" (correct)" if correct else "")
        try:
            images.append(Image(caption, thumbnail(resolved, max_side=260), correct=correct))
        except ThumbError as exc:
            images.append(Image(caption, None, str(exc), correct=correct))
    if not images:
        images.append(Image(row.figure_id, None, f"figure {row.figure_id} is not in figures/ and the row has no image"))
    provs = [provenance_view("generation", row.provenance)]
    if row.deleak_provenance is not None:
        provs.append(provenance_view("de-leakage", row.deleak_provenance))
    return Example(row, images, provs, letters)


def examples(rows: Sequence[QARow], figures: dict[str, Figure], out_dir: Path, limit: int) -> list[Example]:
    return [example(r, figures.get(r.figure_id), out_dir) for r in select(rows, limit)]
