"""M3LLM-style pre-extracted figure records with YOLO sub-figure boxes and a sub-figure CSV, read in
M3LLM's own repository layout.

Record keys (first present wins):
  image        image, image_path, img_path, image_file, file_name, filename, path
  caption      caption, fig_caption, figure_caption, text
  mentions     references (M3LLM's inline text), inline_context, inline_contexts, context,
               in_text_mention, mentions, inline_references, paragraphs
  article id   article_id, pmcid, pmc_id, pmid, doc_id, paper_id; else the image name before "_"
  figure key   figure_id, fig_id, id, fig_label, label; else the image stem
  label        fig_label, figure_label, label
  boxes file   label_file, labels, yolo (optional path to the YOLO .txt)

Images: the record's path relative to the JSON (or its images/, figures/), else by file name in
M3LLM's compound folders `compound/group_<N>/` or `mm_image_files/compound/group_<N>/` under the
image root (IngestConfig.image_root, default the JSON's folder).
YOLO label file `<image name without extension>.txt`, one sub-figure per line "class cx cy w h
[confidence]" normalised to 0-1; looked up at the record's label_file, beside the image, in
labels/ beside the image or JSON, in ../labels/, and in the YOLO run folders `predict/labels/`,
`predict<N>/labels/` (also under `subfig_bounding_boxes/` and `runs/detect/`) of the labels root
(IngestConfig.labels_root, default the JSON's folder); the first hit wins, predict before predict2.
Sub-figure CSV (`filename,prob`, M3LLM's classifier output): sub-figure i (0-based line of the YOLO
file) of image `PMC222_gr2.jpg` is the row `PMC222_gr2.jpg_<i>.jpg`. When a CSV is in use, a
sub-figure is kept only if its row exists with prob >= IngestConfig.panel_threshold, so a figure
whose sub-figures are all below the threshold or absent from the CSV has no supplied boxes (as in
M3LLM). Without any CSV, boxes are kept when their YOLO confidence (default 1.0) passes the
threshold. The CSV is IngestConfig.subfigure_csv, or every CSV with such a header beside the JSON.
When no supplied box survives, the built-in panel detection runs (unless detect_panels is off).
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.errors import IngestError
from pipeline.ingest.figures import ParsedFile, reject
from pipeline.ingest.images import read_size
from pipeline.ingest.paths import is_inside, resolve_href
from pipeline.ingest.record_build import RecordSpec, build_from_records
from pipeline.ingest.records import pick
from pipeline.ingest.panels import boxes_to_panels
from schemas.figure import Panel, PanelSource, SourceFormat
from schemas.reject import RejectReason

SPEC = RecordSpec(
    source_format=SourceFormat.M3LLM,
    image=("image", "image_path", "img_path", "image_file", "file_name", "filename", "path"),
    caption=("caption", "fig_caption", "figure_caption", "text"),
    mentions=("references", "inline_context", "inline_contexts", "context", "in_text_mention", "mentions",
              "inline_references", "paragraphs"),
    article_id=("article_id", "pmcid", "pmc_id", "pmid", "doc_id", "paper_id"),
    figure_key=("figure_id", "fig_id", "id", "fig_label", "label"),
    label=("fig_label", "figure_label", "label"),
)
LABEL_FILE_KEYS = ("label_file", "labels", "yolo")
CSV_FILE_COLS = ("filename", "file", "image", "subfigure", "name")
CSV_PROB_COLS = ("prob", "probability", "confidence", "score")
COMPOUND_DIRS = ("compound", "mm_image_files/compound")
RUN_PARENTS = ("", "subfig_bounding_boxes", "runs/detect")
_SUBFIG = re.compile(r"^(?P<image>.+)_(?P<index>\d+)\.[A-Za-z0-9]+$")  # PMC222_gr2.jpg_1.jpg


def read_confidences(csv_path: Path) -> dict[tuple[str, int], float] | None:
    """{(compound image file name, sub-figure index): probability}; None when the CSV lacks the columns."""
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        fcol = next((cols[c] for c in CSV_FILE_COLS if c in cols), None)
        pcol = next((cols[c] for c in CSV_PROB_COLS if c in cols), None)
        if fcol is None or pcol is None:
            return None
        out: dict[tuple[str, int], float] = {}
        for row in reader:
            name = Path((row.get(fcol) or "").strip().replace("\\", "/")).name
            m = _SUBFIG.match(name)
            try:
                prob = float(row.get(pcol) or "")
            except ValueError:
                continue
            if m:
                out[(m.group("image"), int(m.group("index")))] = prob
        return out


def _confidences_for(path: Path, input_root: Path, config: IngestConfig) -> dict[tuple[str, int], float] | None:
    """Merged CSV probabilities, or None when no sub-figure CSV is in use at all."""
    files = [config.subfigure_csv] if config.subfigure_csv else sorted(path.parent.glob("*.csv"))
    merged: dict[tuple[str, int], float] | None = None
    for f in files:
        if f is None or not Path(f).is_file() or (config.subfigure_csv is None and not is_inside(Path(f), input_root)):
            continue
        found = read_confidences(Path(f))
        if found is not None:
            merged = {**(merged or {}), **found}
    return merged


def _run_dirs(root: Path) -> list[Path]:
    """YOLO `predict*/labels` folders under root, in M3LLM's order: predict, predict1, predict2, ..."""
    return _run_dirs_cached(str(root))


@lru_cache(maxsize=64)
def _run_dirs_cached(root: str) -> list[Path]:
    found = []
    for parent in RUN_PARENTS:
        base = Path(root) / parent if parent else Path(root)
        if not base.is_dir():
            continue
        runs = [d for d in base.glob("predict*") if (d / "labels").is_dir() and re.fullmatch(r"predict\d*", d.name)]
        found += [d / "labels" for d in sorted(runs, key=lambda d: int(d.name[7:] or 0))]
    return found


def _label_file(image: Path, record: dict, json_dir: Path, input_root: Path, labels_root: Path) -> Path | None:
    explicit = pick(record, LABEL_FILE_KEYS)
    if isinstance(explicit, str):
        return resolve_href(explicit, json_dir, input_root)
    name = f"{image.stem}.txt"
    for base in (image.parent, image.parent / "labels", json_dir / "labels", image.parent.parent / "labels"):
        cand = base / name
        if cand.is_file() and is_inside(cand, input_root):
            return cand
    for base in _run_dirs(labels_root):
        if (base / name).is_file() and is_inside(base / name, labels_root):
            return base / name
    return None


def find_compound_image(href: str, image_root: Path) -> Path | None:
    """M3LLM keeps compound figures in group folders: <root>/[mm_image_files/]compound/group_<N>/<name>."""
    name = Path(href.replace("\\", "/")).name
    if not name or name in (".", ".."):
        return None
    for sub in COMPOUND_DIRS:
        groups = sorted((image_root / sub).glob("group_*"), key=lambda d: (len(d.name), d.name))
        for group in groups:
            cand = group / name
            if cand.is_file() and is_inside(cand, image_root):
                return cand.resolve()
    return None


def parse_yolo(text: str, size: tuple[int, int]) -> tuple[list[tuple[float, float, float, float, float]], list[str]]:
    """Pixel boxes (x0, y0, x1, y1, conf) with their line index kept by position; plus bad-line notes."""
    w, h = size
    boxes, bad = [], []
    for n, line in enumerate(text.splitlines()):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(p) for p in parts[1:6]]
            cx, cy, bw, bh = values[:4]
        except (ValueError, IndexError):
            bad.append(f"line {n + 1}: {line.strip()[:80]!r} is not 'class cx cy w h'")
            boxes.append(None)
            continue
        if not all(0.0 <= v <= 1.0 for v in (cx, cy, bw, bh)) or bw <= 0 or bh <= 0:
            bad.append(f"line {n + 1}: values outside 0-1 or empty box")
            boxes.append(None)
            continue
        conf = values[4] if len(values) > 4 else 1.0
        boxes.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h, conf))
    return boxes, bad


def parse_m3llm(records: list[tuple[str, dict]], path: Path, rel: str, input_root: Path, sha256: str,
                config: IngestConfig, out: ParsedFile) -> ParsedFile:
    confidences = _confidences_for(path, input_root, config)
    image_root = Path(config.image_root).resolve() if config.image_root else path.parent
    labels_root = Path(config.labels_root).resolve() if config.labels_root else path.parent

    def supplied(image: Path, record: dict, parsed: ParsedFile, article_id: str, figure_id: str) -> list[Panel] | None:
        try:
            label_path = _label_file(image, record, path.parent, input_root, labels_root)
        except IngestError as exc:
            parsed.rejects.append(reject(str(pick(record, LABEL_FILE_KEYS)), exc.reason, f"{figure_id}: {exc.detail}",
                                         article_id=article_id, figure_id=figure_id))
            return None
        size = read_size(image, config.max_pixels)
        if label_path is None or size is None:
            return None
        boxes, bad = parse_yolo(label_path.read_text(encoding="utf-8", errors="replace"), size)
        for note in bad:
            parsed.rejects.append(reject(str(label_path), RejectReason.INPUT_INVALID, f"{figure_id}: {label_path.name} {note}",
                                         article_id=article_id, figure_id=figure_id))
        kept = []
        for i, box in enumerate(boxes):
            if box is None:
                continue
            prob = box[4] if confidences is None else confidences.get((image.name, i))
            if prob is not None and prob >= config.panel_threshold:
                kept.append((*box[:4], prob))
        panels = boxes_to_panels(kept, size, PanelSource.SUPPLIED, "yolo")
        return panels or None

    def locate(href: str) -> Path | None:
        return find_compound_image(href, image_root)

    return build_from_records(records, path, rel, input_root, sha256, config, SPEC, out, supplied, locate)
