"""Readers for external medical VQA benchmarks kept in a local folder, as evaluation Samples.

Accepted layouts (`path` is a folder or the annotation file itself; images resolve against the
annotation's folder, then its `images/`, `imgs/`, `figures/` or `VQA_RAD Image Folder/` subfolder):

- vqa_rad:  JSON list of {"image_name", "question", "answer", "answer_type"} (CLOSED/OPEN).
- slake:    JSON list of {"img_name", "question", "answer", "answer_type", "q_lang"}; English only
            (q_lang == "en"). A folder holding test.json is read from that file.
- pathvqa:  JSON list of {"image", "question", "answer"} (optional "answer_type"); answers yes/no
            count as closed. No pickle files are read: convert the original pickles to this JSON.
- pmc_vqa:  CSV with columns Figure_path, Question, Answer, Choice A..Choice D, Answer_label; the
            choices ("A:text" or plain text) become "A. text" lines and the task is multiple choice.

Records that are not objects, lack a field or point to a missing image are reported and skipped.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

from pipeline.train.data import Sample

IMAGE_SUBDIRS = ("", "images", "imgs", "figures", "VQA_RAD Image Folder")
BENCHMARKS = ("vqa_rad", "slake", "pathvqa", "pmc_vqa")
_CHOICE_PREFIX = re.compile(r"^\s*[A-D]\s*[:.)]\s*")


class BenchmarkError(ValueError):
    pass


def _annotation(path: Path, patterns: tuple[str, ...]) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    for pattern in patterns:
        found = sorted(path.glob(pattern))
        if found:
            return found[0]
    raise BenchmarkError(f"{path}: no annotation file matching {patterns}")


def _find_image(base: Path, name: str) -> Path | None:
    for sub in IMAGE_SUBDIRS:
        candidate = (base / sub / name) if sub else base / name
        if candidate.is_file():
            return candidate.resolve()
    return None


def _closed_or_open(answer: str, given: str | None) -> str:
    if given:
        return "closed" if given.strip().lower() in {"closed", "yes/no", "yes_no"} else "open"
    return "closed" if answer.strip().lower() in {"yes", "no"} else "open"


def _vqa_sample(task: str, idx: int, image: Path, question: str, answer: str, answer_type: str) -> Sample:
    return Sample(
        id=f"{task}/{idx}",
        task=task,
        images=[image],
        turns=[("human", f"<image>\n{question.strip()}"), ("gpt", answer.strip())],
        split="eval",
        meta={"answer_type": answer_type},
    )


def _read_json_list(path: Path) -> list:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise BenchmarkError(f"{path}: expected a JSON list of records")
    return data


def _read_vqa_json(
    task: str, path: Path, patterns: tuple[str, ...], image_key: str, keep: Callable[[dict], bool] = lambda r: True
) -> tuple[list[Sample], list[str]]:
    ann = _annotation(path, patterns)
    samples, problems = [], []
    for idx, rec in enumerate(_read_json_list(ann)):
        if not isinstance(rec, dict):
            problems.append(f"{ann}[{idx}]: not an object")
            continue
        if not keep(rec):
            continue
        try:
            name, question, answer = str(rec[image_key]), str(rec["question"]), str(rec["answer"])
        except KeyError as exc:
            problems.append(f"{ann}[{idx}]: missing field {exc}")
            continue
        image = _find_image(ann.parent, name)
        if image is None:
            problems.append(f"{ann}[{idx}]: image {name} not found under {ann.parent}")
            continue
        kind = _closed_or_open(answer, rec.get("answer_type"))
        samples.append(_vqa_sample(task, idx, image, question, answer, kind))
    return samples, problems


def read_vqa_rad(path: Path) -> tuple[list[Sample], list[str]]:
    return _read_vqa_json("vqa_rad", path, ("*.json",), "image_name")


def read_slake(path: Path) -> tuple[list[Sample], list[str]]:
    return _read_vqa_json("slake", path, ("test.json", "*.json"), "img_name",
                          keep=lambda r: r.get("q_lang", "en") == "en")


def read_pathvqa(path: Path) -> tuple[list[Sample], list[str]]:
    return _read_vqa_json("pathvqa", path, ("test.json", "*.json"), "image")


def read_pmc_vqa(path: Path) -> tuple[list[Sample], list[str]]:
    ann = _annotation(path, ("test*.csv", "*.csv"))
    samples, problems = [], []
    with ann.open(newline="", encoding="utf-8") as fh:
        for idx, rec in enumerate(csv.DictReader(fh)):
            rec = {(k or "").strip(): (v or "") for k, v in rec.items()}
            try:
                name, question, label = rec["Figure_path"].strip(), rec["Question"], rec["Answer_label"].strip()
                choices = [_CHOICE_PREFIX.sub("", rec[f"Choice {c}"]).strip() for c in "ABCD"]
            except KeyError as exc:
                problems.append(f"{ann} row {idx + 2}: missing column {exc}")
                continue
            if label.upper() not in ("A", "B", "C", "D"):
                problems.append(f"{ann} row {idx + 2}: Answer_label {label!r} is not A-D")
                continue
            image = _find_image(ann.parent, name)
            if image is None:
                problems.append(f"{ann} row {idx + 2}: image {name} not found under {ann.parent}")
                continue
            letter = label.upper()
            options = "\n".join(f"{c}. {text}" for c, text in zip("ABCD", choices, strict=True))
            prompt = f"<image>\n{question.strip()}\n{options}\nAnswer with the option's letter."
            answer = f"{letter}. {choices['ABCD'.index(letter)]}"
            samples.append(Sample(id=f"pmc_vqa/{idx}", task="pmc_vqa", images=[image],
                                  turns=[("human", prompt), ("gpt", answer)], split="eval",
                                  meta={"answer_letter": letter, "options": choices}))
    return samples, problems


READERS: dict[str, Callable[[Path], tuple[list[Sample], list[str]]]] = {
    "vqa_rad": read_vqa_rad,
    "slake": read_slake,
    "pathvqa": read_pathvqa,
    "pmc_vqa": read_pmc_vqa,
}


def read_benchmark(name: str, path: Path) -> tuple[list[Sample], list[str]]:
    if name not in READERS:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return READERS[name](Path(path))
