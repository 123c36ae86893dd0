"""PMC-VQA as released: v1 `test.csv` / `test_clean.csv` (Figure_path, Question, Answer, Choice A-D,
Answer_label) with `images/`; v2 `test_2.csv` (Figure_path, Caption, Question, Choice A-D, Answer
holding the letter) with its figures folder. Choices may be written "A:text" or plain; they become
"A. text" lines and the task is multiple choice. A folder is read from test_clean.csv, else test.csv,
else test_2.csv: give the CSV itself to choose.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from pipeline.evaluate.benchmark_common import BenchmarkError, BenchmarkRead, first_existing, find_image
from pipeline.train.data import Sample

_CHOICE_PREFIX = re.compile(r"^\s*[A-D]\s*[:.)]\s*")
_LETTER = re.compile(r"^\s*\(?([A-D])\s*(?:[:.)]|$)")
IMAGE_DIRS = ("", "images", "images_2", "figures", "imgs")


def _letter(rec: dict, choices: list[str]) -> tuple[str | None, str]:
    """The correct letter from Answer_label (v1) or Answer (v2: a letter, "B:text", or the option text)."""
    if "Answer_label" in rec:
        label = rec["Answer_label"].strip().upper()
        return (label, "") if label in ("A", "B", "C", "D") else (None, f"Answer_label {label!r} is not A-D")
    if "Answer" not in rec:
        return None, "missing column 'Answer_label' (v1) or 'Answer' (v2)"
    answer = rec["Answer"].strip()
    m = _LETTER.match(answer)
    if m:
        return m.group(1), ""
    text = _CHOICE_PREFIX.sub("", answer).strip().lower()
    hits = [c for c, opt in zip("ABCD", choices, strict=True) if opt.strip().lower() == text]
    return (hits[0], "") if len(hits) == 1 else (None, f"Answer {answer[:60]!r} is neither a letter nor one option")


def read_pmc_vqa(path: Path, allow_pickle: bool = False) -> BenchmarkRead:
    path = Path(path)
    ann = path if path.is_file() else first_existing(path, ("test_clean.csv", "test.csv", "test_2.csv", "test*.csv"))
    if ann is None:
        raise BenchmarkError(f"pmc_vqa: no annotation file under {path} (looked for test_clean.csv, test.csv, test_2.csv)")
    out = BenchmarkRead(name="pmc_vqa", annotation=ann, layout="v2" if ann.name.startswith("test_2") else "v1")
    bases = [ann.parent / d if d else ann.parent for d in IMAGE_DIRS]
    with ann.open(newline="", encoding="utf-8-sig") as fh:
        for idx, raw in enumerate(csv.DictReader(fh)):
            out.records += 1
            rec = {(k or "").strip(): (v or "") for k, v in raw.items()}
            where = f"{ann} row {idx + 2}"
            try:
                name, question = rec["Figure_path"].strip(), rec["Question"]
                choices = [_CHOICE_PREFIX.sub("", rec[f"Choice {c}"]).strip() for c in "ABCD"]
            except KeyError as exc:
                out.skip(f"missing column {exc}", f"{where}: missing column {exc}")
                continue
            letter, why = _letter(rec, choices)
            if letter is None:
                out.skip("missing answer column" if why.startswith("missing") else "answer not one of A-D", f"{where}: {why}")
                continue
            image = find_image(bases, name)
            if image is None:
                out.skip("image not found", f"{where}: image {name} not found under {ann.parent}")
                continue
            options = "\n".join(f"{c}. {text}" for c, text in zip("ABCD", choices, strict=True))
            prompt = f"<image>\n{question.strip()}\n{options}\nAnswer with the option's letter."
            out.samples.append(Sample(id=f"pmc_vqa/{idx}", task="pmc_vqa", images=[image],
                                      turns=[("human", prompt), ("gpt", f"{letter}. {choices['ABCD'.index(letter)]}")],
                                      split="eval", meta={"answer_letter": letter, "options": choices}))
    return out
