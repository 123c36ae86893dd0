"""Hugging Face parquet copies of the benchmarks (flaviagiammarino/vqa-rad, flaviagiammarino/path-vqa,
SLAKE and PMC-VQA copies): `data/test-00000-of-00001.parquet` and the like, one row per question
with the image embedded as the datasets Image struct {bytes, path}.

Columns (case-insensitive): image; question; answer; optional answer_type and q_lang (SLAKE copies:
English only). PMC-VQA copies also carry "choice a".."choice d" and "answer label" (or
Choice A / Answer_label). Image bytes are written once, named by content hash, under `cache_dir`
(default: <temp>/pmc-instruct-benchmark-images), because the model loaders read images from files.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError

from pipeline.evaluate.benchmark_common import BenchmarkError, BenchmarkRead, closed_or_open, vqa_sample
from pipeline.train.data import Sample

BATCH = 256


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "pmc-instruct-benchmark-images"


def _store(cell: object, base: Path, cache: Path) -> tuple[Path | None, str]:
    """File for an image cell ({bytes, path} struct, raw bytes, or a path string); (None, why) if unusable."""
    data, name = None, None
    if isinstance(cell, dict):
        data, name = cell.get("bytes"), cell.get("path")
    elif isinstance(cell, (bytes, bytearray)):
        data = bytes(cell)
    elif isinstance(cell, str):
        name = cell
    if not data and name:
        cand = base / name
        return (cand.resolve(), "") if cand.is_file() and ".." not in Path(name).parts else (None, "image path not found")
    if not data:
        return None, "no image bytes"
    try:
        with Image.open(io.BytesIO(data)) as im:
            ext = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "TIFF": "tif", "BMP": "bmp", "WEBP": "webp"}.get(im.format, "img")
    except (UnidentifiedImageError, OSError) as exc:
        return None, f"image bytes not decodable ({type(exc).__name__})"
    path = cache / f"{hashlib.sha256(data).hexdigest()}.{ext}"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path, ""


def _mcq(row: dict, image: Path, idx: str) -> Sample | str:
    choices = [str(row.get(f"choice {c.lower()}") or "").split(":", 1)[-1].strip() for c in "ABCD"]
    letter = str(row.get("answer label") or row.get("answer_label") or row.get("answer") or "").strip()[:1].upper()
    if letter not in ("A", "B", "C", "D") or not all(choices):
        return "no choices or answer letter"
    options = "\n".join(f"{c}. {t}" for c, t in zip("ABCD", choices, strict=True))
    return Sample(id=f"pmc_vqa/{idx}", task="pmc_vqa", images=[image],
                  turns=[("human", f"<image>\n{str(row['question']).strip()}\n{options}\nAnswer with the option's letter."),
                         ("gpt", f"{letter}. {choices['ABCD'.index(letter)]}")],
                  split="eval", meta={"answer_letter": letter, "options": choices})


def read_parquet(name: str, files: list[Path], cache_dir: Path | None = None) -> BenchmarkRead:
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    out = BenchmarkRead(name=name, annotation=files[0] if len(files) == 1 else files[0].parent, layout="HF parquet")
    for file in files:
        try:
            table = pq.ParquetFile(file)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
            raise BenchmarkError(f"{name}: {file} is not a readable parquet file ({exc})") from exc
        columns = {c.lower(): c for c in table.schema_arrow.names}
        missing = [c for c in ("image", "question") if c not in columns]
        if missing:
            raise BenchmarkError(f"{name}: {file} lacks column(s) {missing}; has {sorted(columns)}")
        for batch in table.iter_batches(batch_size=BATCH):
            for raw in batch.to_pylist():
                row = {k.lower().replace("_", " ") if k.lower().startswith("choice") else k.lower(): v for k, v in raw.items()}
                idx = f"{file.stem}-{out.records}"
                out.records += 1
                lang = str(row.get("q_lang") or "en").lower()
                if lang != "en":
                    out.skip(f"not English (q_lang={lang})")
                    continue
                image, why = _store(row.get("image"), file.parent, cache)
                if image is None:
                    out.skip(why, f"{file} row {out.records - 1}: {why}")
                    continue
                if name == "pmc_vqa":
                    sample = _mcq(row, image, idx)
                    if isinstance(sample, str):
                        out.skip(sample, f"{file} row {out.records - 1}: {sample}")
                    else:
                        out.samples.append(sample)
                    continue
                if row.get("answer") is None or row.get("question") is None:
                    out.skip("missing question or answer", f"{file} row {out.records - 1}: missing question or answer")
                    continue
                answer = str(row["answer"])
                out.samples.append(vqa_sample(name, idx, image, str(row["question"]), answer,
                                              closed_or_open(answer, row.get("answer_type"))))
    return out
