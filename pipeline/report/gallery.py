"""Pick a few QA rows per task and turn each into what the gallery card shows."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.report.thumbs import INPUT_SIDE, ThumbError, norm_box, thumbnail
from schemas import Box, Figure, Panel, Provenance, QARow


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


def select(rows: Sequence[QARow], limit: int, shown: set[str] | None = None) -> list[QARow]:
    """Up to `limit` rows, preferring figures not yet in the gallery (`shown`, updated), then one row
    per figure, then any. Rows are taken in a stable pseudo-random order (by a hash of the qa_id) so
    the gallery samples the whole dataset rather than its alphabetically first articles."""
    shown = set() if shown is None else shown
    ordered = sorted(rows, key=lambda r: hashlib.sha1(r.qa_id.encode()).hexdigest())
    picked: list[QARow] = []
    ids: set[str] = set()
    figures: set[str] = set()
    passes = (
        lambda r: r.figure_id not in figures and r.figure_id not in shown,
        lambda r: r.figure_id not in figures,
        lambda r: True,
    )
    for wanted in passes:
        for r in ordered:
            if len(picked) >= limit:
                break
            if r.qa_id not in ids and wanted(r):
                picked.append(r)
                ids.add(r.qa_id)
                figures.add(r.figure_id)
    shown |= figures
    return sorted(picked, key=lambda r: r.qa_id)


def _resolve(path: str, out_dir: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else out_dir / p


def provenance_view(label: str, p: Provenance) -> ProvenanceView:
    template = p.template_name or "-"
    if p.template_name and p.template_version:
        template = f"{p.template_name}@{p.template_version}"
    return ProvenanceView(label, str(p.method), p.model_id or "none", template, p.cache_hit, p.backend)


def shown_label(panel: Panel) -> str:
    """What the gallery draws on a panel box: the label as printed on the figure, or the
    reading-order name with "?" (a name for the crop, never paired with a sub-caption)."""
    return panel.printed_label if panel.letter else f"{panel.label}?"


def _highlights(row: QARow, figure: Figure) -> list[tuple[str, Box]]:
    size = (figure.width or 1, figure.height or 1)
    names = {p.label: shown_label(p) for p in figure.panels}
    if row.boxes:
        labels = row.panel_labels if len(row.panel_labels) == len(row.boxes) else [""] * len(row.boxes)
        return [(names.get(label, label), norm_box(b, *size)) for label, b in zip(labels, row.boxes, strict=True)]
    wanted = set(row.panel_labels)
    return [(shown_label(p), p.box_norm) for p in figure.panels if p.label in wanted]


def _figure_image(row: QARow, figure: Figure | None, out_dir: Path) -> Image | None:
    if figure is None:
        return None
    if not figure.image_path:
        return Image(f"{figure.figure_id}", None, "the figure shipped without an image")
    highlights = _highlights(row, figure)
    hl_labels = {label for label, _ in highlights}
    # Highlighted panels are drawn once, in the highlight colour.
    panels = [(shown_label(p), p.box_norm) for p in figure.panels if shown_label(p) not in hl_labels]
    caption = f"{figure.label or figure.figure_id}: {len(figure.panels)} panel(s)"
    try:
        uri = thumbnail(_resolve(figure.image_path, out_dir), panels, highlights)
    except ThumbError as exc:
        return Image(caption, None, str(exc))
    return Image(caption, uri)


def _input_images(row: QARow, figure_path: Path | None, out_dir: Path, letters: list[str],
                  figure_shown: bool) -> tuple[list[Image], str | None]:
    """Model inputs other than the full figure, and a note on those left out.

    Image-choice MCQ inputs (one option per image) are always shown, named by option with the right
    one marked. Other crops repeat the panels highlighted on the figure, so they are only shown when
    the figure itself cannot be (this keeps the page small).
    """
    per_image_options = len(row.options) == len(row.image_paths) > 1
    extra = [(i, _resolve(p, out_dir)) for i, p in enumerate(row.image_paths)]
    extra = [(i, p) for i, p in extra if p != figure_path]
    if not extra:
        return [], None
    if figure_shown and not per_image_options:
        return [], f"model input: {len(extra)} panel crop(s), highlighted on the figure"
    images = []
    for i, path in extra:
        caption = f"<image> {i + 1}"
        correct = per_image_options and letters[i] == row.answer_letter
        if per_image_options:
            caption += f" = {letters[i]}" + (" (correct)" if correct else "")
        try:
            images.append(Image(caption, thumbnail(path, max_side=INPUT_SIDE), correct=correct))
        except ThumbError as exc:
            images.append(Image(caption, None, str(exc), correct=correct))
    return images, None


def example(row: QARow, figure: Figure | None, out_dir: Path) -> Example:
    images: list[Image] = []
    fig_img = _figure_image(row, figure, out_dir)
    if fig_img is not None:
        images.append(fig_img)
    figure_path = _resolve(figure.image_path, out_dir) if figure and figure.image_path else None
    letters = [chr(ord("A") + i) for i in range(len(row.options))]
    inputs, left_out = _input_images(row, figure_path, out_dir, letters, bool(fig_img and fig_img.uri))
    images += inputs
    if left_out and images:
        images[0].caption += f" \u00b7 {left_out}"
    if not images:
        images.append(Image(row.figure_id, None, f"figure {row.figure_id} is not in figures/ and the row has no image"))
    provs = [provenance_view("generation", row.provenance)]
    if row.deleak_provenance is not None:
        provs.append(provenance_view("de-leakage", row.deleak_provenance))
    return Example(row, images, provs, letters)


def examples(rows: Sequence[QARow], figures: dict[str, Figure], out_dir: Path) -> list[Example]:
    """Gallery cards of rows already chosen by `select`."""
    return [example(r, figures.get(r.figure_id), out_dir) for r in rows]
