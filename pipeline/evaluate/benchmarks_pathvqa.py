"""PathVQA in its release layout: `qas/<split>/<split>_qa.pkl` (a pickled list of {"image", "question",
"answer"} dicts, image names without extension) and `images/<split>/<name>.jpg`; also the same
records converted to JSON (`<split>_qa.json`, `test.json`, or any JSON list you point at).

Unpickling runs code chosen by whoever wrote the file, so pickles are read only with
allow_pickle=True (`--allow-pickle`), and even then through an unpickler that refuses every
class or function reference: plain lists, dicts and strings load, anything else is an error.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from pipeline.evaluate.benchmark_common import BenchmarkError, BenchmarkRead, closed_or_open, first_existing, find_image, read_json, vqa_sample

ANNOTATIONS = ("qas/test/test_qa.json", "qas/test/test_qa.pkl", "test/test_qa.json", "test/test_qa.pkl",
               "test_qa.json", "test_qa.pkl", "test.json", "*test*.json", "qas/test_vqa.pkl")


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D401 - pickle hook
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: benchmark pickles must hold plain data only")


def _load_pickle(ann: Path, allow_pickle: bool) -> object:
    if not allow_pickle:
        raise BenchmarkError(f"pathvqa: {ann} is a pickle; unpickling can run arbitrary code, so it is read only "
                             "with --allow-pickle (only for files you trust), or convert it to JSON first")
    try:
        with ann.open("rb") as fh:
            return _DataOnly(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise BenchmarkError(f"pathvqa: {ann}: cannot load ({exc})") from exc


def _split_of(ann: Path) -> str:
    for part in (ann.stem, ann.parent.name):
        for split in ("test", "val", "train"):
            if part.lower().startswith(split):
                return split
    return "test"


def read_pathvqa(path: Path, allow_pickle: bool = False) -> BenchmarkRead:
    path = Path(path)
    ann = path if path.is_file() else first_existing(path, ANNOTATIONS)
    if ann is None:
        raise BenchmarkError(f"pathvqa: no annotation file under {path} (looked for qas/test/test_qa.pkl or a test JSON)")
    data = _load_pickle(ann, allow_pickle) if ann.suffix == ".pkl" else read_json(ann)
    if isinstance(data, dict):  # some conversions keep {"data": [...]}
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list):
        raise BenchmarkError(f"pathvqa: {ann}: expected a list of question records")
    split = _split_of(ann)
    bases = [ann.parent, ann.parent / "images", ann.parent / "images" / split]
    for anc in list(ann.parents)[:3]:
        bases += [anc / "images" / split, anc / "images"]
    out = BenchmarkRead(name="pathvqa", annotation=ann, layout="pickle" if ann.suffix == ".pkl" else "JSON")
    for idx, rec in enumerate(data):
        out.records += 1
        if not isinstance(rec, dict):
            out.skip("not an object", f"{ann}[{idx}]: not an object")
            continue
        try:
            name, question, answer = str(rec["image"]), str(rec["question"]), str(rec["answer"])
        except KeyError as exc:
            out.skip(f"missing field {exc}", f"{ann}[{idx}]: missing field {exc}")
            continue
        image = find_image(bases, name)
        if image is None:
            out.skip("image not found", f"{ann}[{idx}]: image {name} not found in images/{split}/ or beside {ann.name}")
            continue
        kind = closed_or_open(answer, rec.get("answer_type") if rec.get("answer_type") in ("yes/no", "closed", "open", "CLOSED", "OPEN") else None)
        out.samples.append(vqa_sample("pathvqa", idx, image, question, answer, kind))
    return out
