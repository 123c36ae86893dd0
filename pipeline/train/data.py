"""Read training/evaluation samples from the InternVL JSONL export or from final QA Parquet rows.

Accepted inputs:
- `<out>/export/internvl` (or its `meta.json`): every meta entry names a task, an images `root`
  and an `annotation` JSONL. An entry whose name or annotation stem ends in `eval`, `val` or `test`
  (e.g. `text_qa_eval`, `text_qa.eval.jsonl`) is evaluation data; the rest is training data. When an
  export has no such entry, `eval_fraction` of each task is held out, chosen by a hash of the id.
- a folder of `schemas.QARow` Parquet shards, `<final>/<task>/part-*.parquet`, split from `QARow.split`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.io.parquet import list_shards, read_rows
from schemas import QARow

IMAGE_PLACEHOLDER = "<image>"
_SPLIT_SUFFIX = re.compile(r"[._-](eval|val|valid|validation|test|train)$")


@dataclass
class Sample:
    """One conversation: turns are ("human" | "gpt", text) with `<image>` where each image goes."""

    id: str
    task: str
    images: list[Path]
    turns: list[tuple[str, str]]
    split: str = "train"
    meta: dict = field(default_factory=dict)

    @property
    def reference(self) -> str:
        """Final assistant turn: what evaluation compares a prediction with."""
        return self.turns[-1][1] if self.turns and self.turns[-1][0] == "gpt" else ""


class DataError(ValueError):
    """A data folder or file that cannot be read as any accepted layout."""


def _hash_fraction(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _split_name(name: str, annotation: Path) -> tuple[str, str | None]:
    """(task, split or None) from a meta entry name and its annotation file stem."""
    for text in (name, annotation.stem):
        m = _SPLIT_SUFFIX.search(text)
        if m:
            return _SPLIT_SUFFIX.sub("", name), "train" if m.group(1) == "train" else "eval"
    return name, None


def _sample_from_record(rec: dict, task: str, root: Path, split: str | None) -> Sample:
    raw = rec.get("image")
    images = [] if raw is None else [raw] if isinstance(raw, str) else list(raw)
    turns = [(t["from"], t["value"]) for t in rec["conversations"]]
    n_placeholders = sum(v.count(IMAGE_PLACEHOLDER) for _, v in turns)
    if n_placeholders != len(images):
        raise DataError(f"item {rec.get('id')}: {n_placeholders} <image> placeholders for {len(images)} images")
    if not turns or turns[-1][0] != "gpt":
        raise DataError(f"item {rec.get('id')}: conversation must end with a gpt turn")
    return Sample(
        id=str(rec["id"]),
        task=task,
        images=[(root / p).resolve() for p in images],
        turns=turns,
        split=split or "train",
    )


def read_internvl_export(path: Path, eval_fraction: float = 0.2) -> tuple[list[Sample], list[str]]:
    """Samples from an InternVL export; also returns readable problems (bad lines are skipped)."""
    path = Path(path)
    meta_path = path / "meta.json" if path.is_dir() else path
    if not meta_path.is_file():
        raise DataError(f"{path}: no meta.json (expected an export/internvl folder)")
    # a folder: the training meta plus, when present, the eval meta written beside it
    paths = [meta_path] + ([path / "meta_eval.json"] if path.is_dir() and (path / "meta_eval.json").is_file() else [])
    entries = [(name, entry, p) for p in paths for name, entry in json.loads(p.read_text()).items()]
    samples: list[Sample] = []
    problems: list[str] = []
    explicit_split = False
    for name, entry, meta_path in entries:
        annotation = Path(entry["annotation"])
        if not annotation.is_absolute():
            annotation = meta_path.parent / annotation
        root = Path(entry.get("root") or meta_path.parent)
        if not root.is_absolute():
            root = meta_path.parent / root
        task, split = _split_name(name, annotation)
        explicit_split |= split == "eval"
        if not annotation.is_file():
            problems.append(f"{name}: annotation file {annotation} is missing")
            continue
        for lineno, line in enumerate(annotation.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                samples.append(_sample_from_record(json.loads(line), task, root, split))
            except (json.JSONDecodeError, KeyError, TypeError, DataError) as exc:
                problems.append(f"{annotation}:{lineno}: {exc}")
    if not explicit_split:
        hold_out(samples, eval_fraction)
    return samples, problems


def hold_out(samples: list[Sample], eval_fraction: float) -> None:
    """Mark a stable `eval_fraction` of each task as eval (at least one item of any task with two
    or more), choosing items by a hash of their id so the split never depends on file order."""
    by_task: dict[str, list[Sample]] = {}
    for s in samples:
        by_task.setdefault(s.task, []).append(s)
    for items in by_task.values():
        ranked = sorted(items, key=lambda s: _hash_fraction(s.id))
        n_eval = round(eval_fraction * len(ranked))
        if eval_fraction > 0 and n_eval == 0 and len(ranked) >= 2:
            n_eval = 1
        for i, s in enumerate(ranked):
            s.split = "eval" if i < n_eval else "train"


def _sample_from_row(row: QARow) -> Sample:
    turns = [(t.speaker, t.value) for t in row.conversation]
    return Sample(
        id=row.qa_id,
        task=row.task,
        images=[Path(p) for p in row.image_paths],
        turns=turns,
        split=row.split or "train",
        meta={"answer_letter": row.answer_letter, "relation": row.relation},
    )


def read_qa_parquet(final_dir: Path) -> tuple[list[Sample], list[str]]:
    samples: list[Sample] = []
    problems: list[str] = []
    for task_dir in sorted(p for p in Path(final_dir).iterdir() if p.is_dir()):
        for shard in list_shards(task_dir):
            for row in read_rows(shard, QARow):
                sample = _sample_from_row(row)
                n = sum(v.count(IMAGE_PLACEHOLDER) for _, v in sample.turns)
                if n != len(sample.images) or not sample.turns or sample.turns[-1][0] != "gpt":
                    problems.append(f"{row.qa_id}: {n} <image> placeholders for {len(sample.images)} images")
                    continue
                samples.append(sample)
    return samples, problems


def load_samples(
    path: Path, split: str | None = None, tasks: list[str] | None = None, eval_fraction: float = 0.2
) -> tuple[list[Sample], list[str]]:
    """Samples of one split (None = all) and task subset from whichever layout `path` holds."""
    path = Path(path)
    if (path / "meta.json").is_file() or (path.suffix == ".json" and path.is_file()):
        samples, problems = read_internvl_export(path, eval_fraction)
    elif path.is_dir() and any(list_shards(p) for p in path.iterdir() if p.is_dir()):
        samples, problems = read_qa_parquet(path)
    else:
        raise DataError(f"{path}: neither an InternVL export (meta.json) nor a folder of <task>/part-*.parquet")
    if split is not None:
        samples = [s for s in samples if s.split == split]
    if tasks:
        samples = [s for s in samples if s.task in tasks]
    return samples, problems
