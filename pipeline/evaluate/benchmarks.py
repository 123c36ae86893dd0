"""External medical VQA benchmarks, read in the layouts they are released in, as evaluation Samples.

`load_benchmark(name, path)` picks the reader for the layout found at `path` (a folder or the
annotation file itself) and returns a BenchmarkRead: the scorable samples plus how many records
were read, skipped and why. A benchmark with zero scorable items raises BenchmarkError with the
reasons, so an evaluation never "succeeds" with a benchmark silently missing.

Layouts (see the reader modules for details):
- vqa_rad  official `VQA_RAD Dataset Public.json` (only phrase types test_freeform/test_para are
           scored) + `VQA_RAD Image Folder/`; the `data_RAD/` layout (testset.json, images/);
           Hugging Face parquet (flaviagiammarino/vqa-rad)               -> benchmarks_vqa.py
- slake    Slake1.0 `test.json` + `imgs/` (English questions only); parquet copies -> benchmarks_vqa.py
- pathvqa  release pickles `qas/test/test_qa.pkl` + `images/test/<name>.jpg` (names without
           extension; pickles only with allow_pickle), the same as JSON; parquet (flaviagiammarino/path-vqa)
                                                                          -> benchmarks_pathvqa.py
- pmc_vqa  v1 `test.csv` / `test_clean.csv` (Answer_label), v2 `test_2.csv` (the letter in Answer)
                                                                          -> benchmarks_pmc_vqa.py
Parquet copies (a .parquet file, or a folder holding `data/test-*.parquet`) carry the image bytes
in an `image` struct {bytes, path}; they are written once, by content hash, to a cache folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.evaluate.benchmark_common import (  # noqa: F401 - the public names of benchmark reading
    BENCHMARKS,
    IMAGE_EXTS,
    BenchmarkError,
    BenchmarkRead,
    closed_or_open,
    find_image,
    first_existing,
    parquet_files,
    read_json,
    vqa_sample,
)
from pipeline.evaluate.benchmarks_parquet import read_parquet
from pipeline.evaluate.benchmarks_pathvqa import read_pathvqa
from pipeline.evaluate.benchmarks_pmc_vqa import read_pmc_vqa
from pipeline.evaluate.benchmarks_vqa import read_slake, read_vqa_rad
from pipeline.train.data import Sample

READERS: dict[str, Callable[..., BenchmarkRead]] = {
    "vqa_rad": read_vqa_rad, "slake": read_slake, "pathvqa": read_pathvqa, "pmc_vqa": read_pmc_vqa}


def load_benchmark(name: str, path: Path, *, allow_pickle: bool = False, cache_dir: Path | None = None) -> BenchmarkRead:
    """Read one benchmark; raises BenchmarkError when it is unknown, absent, or yields nothing to score."""
    if name not in BENCHMARKS:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    path = Path(path)
    if not path.exists():
        raise BenchmarkError(f"{name}: {path} does not exist")
    files = parquet_files(path)
    if files:
        result = read_parquet(name, files, cache_dir)
    else:
        result = READERS[name](path, allow_pickle=allow_pickle)
    if not result.samples:
        examples = "; ".join(result.problems[:3])
        raise BenchmarkError(f"{result.describe()} - nothing to score{': ' + examples if examples else ''}")
    return result


def read_benchmark(name: str, path: Path, *, allow_pickle: bool = False,
                   cache_dir: Path | None = None) -> tuple[list[Sample], list[str]]:
    """(samples, problem lines) of one benchmark; see load_benchmark."""
    result = load_benchmark(name, path, allow_pickle=allow_pickle, cache_dir=cache_dir)
    return result.samples, result.problems
