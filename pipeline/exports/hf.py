"""Hugging Face dataset export: <dest>/<task>/<split>-NNNNN-of-NNNNN.parquet plus a README.md card,
so `datasets.load_dataset(<dest>)` (default config) or `load_dataset(<dest>, "<task>")` gives real
train/eval splits with images decoded as PIL images, and `push_to_hub` carries the pixels.

Rows come from <out>/final/<task>/part-*.parquet (schemas.QARow). Images are embedded as the
datasets `Image` feature in an `images` list (one entry for single-image rows, several for
multi-image rows, none for text-only rows), normalised to 8-bit RGB where needed
(pipeline.ingest.images.web_image_bytes). Each row keeps its source (PMCID, article and figure id,
DOI, citation) and license; `licenses` is an allow-list of license codes (e.g. ["CC BY"]) applied
here: rows whose article license is not on it are left out and counted in the card.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.exports.hf_card import dataset_card
from pipeline.exports.licenses import license_code
from pipeline.ingest.images import web_image_bytes
from pipeline.io.atomic import atomic_write, atomic_write_text
from pipeline.io.parquet import read_all
from schemas import QARow, Reject, RejectReason

STAGE = "export.hf"
SPLITS = ("train", "eval")


def features():
    import datasets

    text = datasets.Value("string")
    return datasets.Features({
        "id": text, "task": text, "images": datasets.List(datasets.Image()),
        "conversations": datasets.List({"from": text, "value": text}),
        "question": text, "answer": text, "options": datasets.List(text), "answer_letter": text,
        "context": text, "panel_labels": datasets.List(text),
        "pmcid": text, "article_id": text, "figure_id": text, "doi": text, "citation": text,
        "license": text, "license_code": text,
    })


@dataclass
class HFExportResult:
    dest: Path
    configs: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> split -> rows
    licenses: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)


def _column_map(folder: Path, key: str, columns: list[str]) -> dict[str, dict]:
    """{key: {column: value}} from every shard in `folder` (only the columns asked for are read)."""
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("part-*.parquet")):
        names = pq.read_schema(path).names
        table = pq.read_table(path, columns=[c for c in [key, *columns] if c in names])
        for row in table.to_pylist():
            out[row[key]] = row
    return out


@lru_cache(maxsize=512)
def _image(path: str) -> tuple[bytes, str]:
    data, ext, _, _ = web_image_bytes(Path(path))
    return data, ext


def _record(row: QARow, article: dict, figure: dict) -> dict:
    images = []
    for p in row.image_paths:
        data, ext = _image(p)
        images.append({"bytes": data, "path": f"{Path(p).stem}.{ext}"})
    raw = figure.get("license") or article.get("license")
    return {
        "id": row.qa_id, "task": row.task, "images": images,
        "conversations": [{"from": t.speaker, "value": t.value} for t in row.conversation],
        "question": row.question, "answer": row.answer, "options": row.options, "answer_letter": row.answer_letter,
        "context": row.context, "panel_labels": row.panel_labels,
        "pmcid": article.get("pmcid"), "article_id": row.article_id, "figure_id": row.figure_id,
        "doi": article.get("doi"), "citation": article.get("citation"), "license": raw, "license_code": license_code(raw),
    }


def _write_split(folder: Path, split: str, records: list[dict], rows_per_shard: int) -> None:
    import datasets

    chunks = [records[i:i + rows_per_shard] for i in range(0, len(records), rows_per_shard)]
    for i, chunk in enumerate(chunks):
        ds = datasets.Dataset.from_list(chunk, features=features())
        target = folder / f"{split}-{i:05d}-of-{len(chunks):05d}.parquet"
        atomic_write(target, lambda tmp, ds=ds: ds.to_parquet(str(tmp)))  # datasets writes its feature metadata


def export_hf(out_dir: Path, dest: Path | None = None, *, licenses: list[str] | None = None,
              tasks: list[str] | None = None, rows_per_shard: int = 2000) -> HFExportResult:
    """Write the export (replacing an earlier one at `dest`, default <out>/export/hf) and return counts."""
    out_dir = Path(out_dir)
    final = out_dir / "final"
    available = sorted(d.name for d in final.iterdir() if d.is_dir() and any(d.glob("part-*.parquet"))) if final.is_dir() else []
    if not available:
        raise FileNotFoundError(f"no final tables under {final}: run the build (or finalize) first")
    unknown = sorted(set(tasks or []) - set(available))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; this output has {available}")
    allow = {license_code(x) or x for x in licenses} if licenses else None
    dest = Path(dest) if dest else out_dir / "export" / "hf"
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    articles = _column_map(out_dir / "articles", "article_id", ["pmcid", "doi", "citation", "license"])
    figures = _column_map(out_dir / "figures", "figure_id", ["license"])
    result = HFExportResult(dest=dest)
    models: Counter = Counter()
    for task in tasks or available:
        rows = sorted(read_all(final / task, QARow), key=lambda r: r.qa_id)
        by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
        for row in rows:
            article, figure = articles.get(row.article_id, {}), figures.get(row.figure_id, {})
            code = license_code(figure.get("license") or article.get("license"))
            if allow is not None and code not in allow:
                result.skipped[f"license {code or 'unknown'} not allowed"] += 1
                continue
            try:
                record = _record(row, article, figure)
            except (OSError, ValueError) as exc:
                result.rejects.append(Reject(item=row.qa_id, stage=STAGE, reason=RejectReason.IMAGE_MISSING,
                                             detail=f"{row.qa_id}: image unreadable for the HF export: {exc}",
                                             article_id=row.article_id, figure_id=row.figure_id))
                result.skipped["image unreadable"] += 1
                continue
            by_split["eval" if row.split == "eval" else "train"].append(record)
            result.licenses[code or "unknown"] += 1
            for prov in (row.provenance, row.deleak_provenance):
                if prov is not None and prov.model_id:
                    models[prov.model_id] += 1
        splits = {s: len(r) for s, r in by_split.items() if r}
        if not splits:
            continue
        (staging / task).mkdir()
        for split, records in by_split.items():
            if records:
                _write_split(staging / task, split, records, rows_per_shard)
        result.configs[task] = splits
    if not result.configs:
        shutil.rmtree(staging)
        raise ValueError(f"nothing to export: every row was left out ({dict(result.skipped)})")
    atomic_write_text(staging / "README.md", dataset_card(result.configs, result.licenses, models,
                                                          sorted(allow) if allow else None, result.skipped))
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return result
