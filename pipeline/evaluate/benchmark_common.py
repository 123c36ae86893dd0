"""What every benchmark reader shares: the read report (samples plus what was skipped and why), the
error for a benchmark with nothing to score, and small lookups for images and annotation files.
The readers (benchmarks_*.py) import from here; benchmarks.py dispatches to them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.train.data import Sample

BENCHMARKS = ("vqa_rad", "slake", "pathvqa", "pmc_vqa")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".JPG", ".PNG", ".tif", ".bmp", ".gif")
MAX_EXAMPLES = 20  # problem lines kept per benchmark (the counts cover everything)


class BenchmarkError(ValueError):
    pass


@dataclass
class BenchmarkRead:
    """What one reader did: samples to score, and every record it did not turn into one."""

    name: str
    annotation: Path
    layout: str
    samples: list[Sample] = field(default_factory=list)
    records: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    problems: list[str] = field(default_factory=list)  # first MAX_EXAMPLES lines naming the record

    def skip(self, reason: str, detail: str | None = None) -> None:
        self.skipped[reason] += 1
        if detail and len(self.problems) < MAX_EXAMPLES:
            self.problems.append(detail)

    def summary(self) -> dict:
        return {"layout": self.layout, "annotation": str(self.annotation), "records": self.records,
                "scorable": len(self.samples), "skipped": dict(self.skipped.most_common())}

    def describe(self) -> str:
        why = ", ".join(f"{n} {r}" for r, n in self.skipped.most_common()) or "none"
        return f"{self.name} ({self.layout}, {self.annotation}): {self.records} records, {len(self.samples)} scorable; skipped: {why}"


def closed_or_open(answer: str, given: str | None) -> str:
    if given:
        return "closed" if str(given).strip().lower() in {"closed", "yes/no", "yes_no"} else "open"
    return "closed" if answer.strip().lower() in {"yes", "no"} else "open"


def vqa_sample(task: str, idx: int | str, image: Path, question: str, answer: str, answer_type: str) -> Sample:
    return Sample(id=f"{task}/{idx}", task=task, images=[image],
                  turns=[("human", f"<image>\n{question.strip()}"), ("gpt", answer.strip())],
                  split="eval", meta={"answer_type": answer_type})


def find_image(bases: Iterable[Path], name: str) -> Path | None:
    """`name` under the first base that has it; a name without extension tries the usual ones."""
    rel = Path(str(name).replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        return None
    for base in bases:
        cand = base / rel
        if cand.is_file():
            return cand.resolve()
        if not rel.suffix:
            for ext in IMAGE_EXTS:
                if (base / f"{rel}{ext}").is_file():
                    return (base / f"{rel}{ext}").resolve()
    return None


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{path}: not readable JSON ({exc})") from exc


def first_existing(path: Path, names: Iterable[str]) -> Path | None:
    for pattern in names:
        found = sorted(p for p in path.glob(pattern) if p.is_file())
        if found:
            return found[0]
    return None


def parquet_files(path: Path) -> list[Path] | None:
    """The test-split parquet files of an HF copy at `path`, or None when it is not one."""
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix == ".parquet" else None
    files = sorted(path.rglob("*.parquet"))
    if not files:
        return None
    test = [f for f in files if "test" in f.name.lower() or "test" in f.parent.name.lower()]
    return test or None
