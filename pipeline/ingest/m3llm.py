"""M3LLM-style pre-extracted figure records with YOLO sub-figure boxes and a confidence CSV.

Record keys (first present wins):
  image        image, image_path, img_path, image_file, file_name, filename, path
  caption      caption, fig_caption, figure_caption, text
  mentions     inline_context, inline_contexts, context, in_text_mention, mentions, inline_references, paragraphs
  article id   article_id, pmcid, pmc_id, pmid, doc_id, paper_id; else the image name before "_"
  figure key   figure_id, fig_id, id, fig_label, label; else the image stem
  label        fig_label, figure_label, label
  boxes file   label_file, labels, yolo (optional path to the YOLO .txt)
YOLO label file: one sub-figure per line, "class cx cy w h [confidence]", normalised to 0-1. Found
(in order) at the record's label_file, <image dir>/<stem>.txt, <image dir>/labels/<stem>.txt,
<json dir>/labels/<stem>.txt, or <image dir>/../labels/<stem>.txt.
Confidence CSV: header with a file column (filename, file, image, subfigure, name) and a probability
column (probability, prob, confidence, score); the file of sub-figure i (0-based line index in the
YOLO file) is "<image stem>_<i>" with any extension. Sub-figures below IngestConfig.panel_threshold
are dropped; sub-figures missing from the CSV keep the YOLO confidence (or 1.0). The CSV is
IngestConfig.subfigure_csv, or every CSV with such a header beside the JSON file.
When no box survives, the built-in panel detection runs instead.
"""

from __future__ import annotations

import csv
import re
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
    mentions=("inline_context", "inline_contexts", "context", "in_text_mention", "mentions", "inline_references", "paragraphs"),
    article_id=("article_id", "pmcid", "pmc_id", "pmid", "doc_id", "paper_id"),
    figure_key=("figure_id", "fig_id", "id", "fig_label", "label"),
    label=("fig_label", "figure_label", "label"),
)
LABEL_FILE_KEYS = ("label_file", "labels", "yolo")
CSV_FILE_COLS = ("filename", "file", "image", "subfigure", "name")
CSV_PROB_COLS = ("probability", "prob", "confidence", "score")
_SUBFIG = re.compile(r"^(?P<stem>.+)_(?P<index>\d+)$")


def read_confidences(csv_path: Path) -> dict[tuple[str, int], float] | None:
    """{(image stem, sub-figure index): probability}, or None when the CSV lacks the columns."""
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        fcol = next((cols[c] for c in CSV_FILE_COLS if c in cols), None)
        pcol = next((cols[c] for c in CSV_PROB_COLS if c in cols), None)
        if fcol is None or pcol is None:
            return None
        out: dict[tuple[str, int], float] = {}
        for row in reader:
            name = Path((row.get(fcol) or "").strip()).stem
            m = _SUBFIG.match(name)
            try:
                prob = float(row.get(pcol) or "")
            except ValueError:
                continue
            if m:
                out[(m.group("stem"), int(m.group("index")))] = prob
        return out


def _confidences_for(path: Path, input_root: Path, config: IngestConfig) -> dict[tuple[str, int], float]:
    files = [config.subfigure_csv] if config.subfigure_csv else sorted(path.parent.glob("*.csv"))
    merged: dict[tuple[str, int], float] = {}
    for f in files:
        if f is None or not Path(f).is_file() or (config.subfigure_csv is None and not is_inside(Path(f), input_root)):
            continue
        merged.update(read_confidences(Path(f)) or {})
    return merged


def _label_file(image: Path, record: dict, json_dir: Path, input_root: Path) -> Path | None:
    explicit = pick(record, LABEL_FILE_KEYS)
    if isinstance(explicit, str):
        return resolve_href(explicit, json_dir, input_root)
    for base in (image.parent, image.parent / "labels", json_dir / "labels", image.parent.parent / "labels"):
        cand = base / f"{image.stem}.txt"
        if cand.is_file() and is_inside(cand, input_root):
            return cand
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

    def supplied(image: Path, record: dict, parsed: ParsedFile, article_id: str, figure_id: str) -> list[Panel] | None:
        try:
            label_path = _label_file(image, record, path.parent, input_root)
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
            prob = confidences.get((image.stem, i), box[4])
            if prob >= config.panel_threshold:
                kept.append((*box[:4], prob))
        panels = boxes_to_panels(kept, size, PanelSource.SUPPLIED, "yolo")
        return panels or None

    return build_from_records(records, path, rel, input_root, sha256, config, SPEC, out, supplied)
