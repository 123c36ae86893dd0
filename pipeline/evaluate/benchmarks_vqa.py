"""VQA-RAD and SLAKE in their released JSON layouts.

VQA-RAD, official release: `VQA_RAD Dataset Public.json` (a list of records with image_name,
question, answer, answer_type CLOSED/OPEN and phrase_type) beside `VQA_RAD Image Folder/`. The file
mixes training and test questions: only records whose phrase_type starts with "test" (test_freeform,
test_para) are scored; a JSON without phrase_type is taken whole.
VQA-RAD, `data_RAD/` layout (used by the MEVF/BAN code): trainset.json, testset.json (same record
keys), imgid2idx.json (an image-name -> index map, not questions) and images/. testset.json is read.
SLAKE (Slake1.0): test.json with img_name ("xmlab102/source.jpg"), question, answer, answer_type,
q_lang; images under imgs/. Only English questions (q_lang "en") are scored; test.json is the split read.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.evaluate.benchmark_common import BenchmarkError, BenchmarkRead, closed_or_open, first_existing, find_image, read_json, vqa_sample

NOT_QUESTIONS = {"imgid2idx.json", "trainset.json", "train.json", "validate.json", "val.json"}


def _pick_vqa_rad(path: Path) -> tuple[Path, str]:
    if path.is_file():
        return path, "data_RAD" if path.name == "testset.json" else "official JSON"
    for folder in (path, path / "data_RAD"):
        if (folder / "testset.json").is_file():
            return folder / "testset.json", "data_RAD"
    found = first_existing(path, ("VQA_RAD Dataset Public.json", "*.json"))
    if found is not None and found.name not in NOT_QUESTIONS:
        return found, "official JSON"
    others = sorted(p.name for p in path.glob("*.json"))
    raise BenchmarkError(f"vqa_rad: no annotation file under {path} (looked for data_RAD testset.json and "
                         f"'VQA_RAD Dataset Public.json'; found {others or 'no JSON'})")


def _records(ann: Path, name: str) -> list:
    data = read_json(ann)
    if isinstance(data, dict):
        raise BenchmarkError(f"{name}: {ann} is a JSON object, not a list of questions (e.g. imgid2idx.json); "
                             "give the question file or its folder")
    if not isinstance(data, list):
        raise BenchmarkError(f"{name}: {ann}: expected a JSON list of records")
    return data


def _read(name: str, ann: Path, layout: str, image_key: str, bases: list[Path], keep) -> BenchmarkRead:
    out = BenchmarkRead(name=name, annotation=ann, layout=layout)
    for idx, rec in enumerate(_records(ann, name)):
        out.records += 1
        if not isinstance(rec, dict):
            out.skip("not an object", f"{ann}[{idx}]: not an object")
            continue
        reason = keep(rec)
        if reason:
            out.skip(reason)
            continue
        try:
            image_name, question, answer = str(rec[image_key]), str(rec["question"]), str(rec["answer"])
        except KeyError as exc:
            out.skip(f"missing field {exc}", f"{ann}[{idx}]: missing field {exc}")
            continue
        image = find_image(bases, image_name)
        if image is None:
            out.skip("image not found", f"{ann}[{idx}]: image {image_name} not found under {ann.parent}")
            continue
        qid = rec.get("qid", idx)
        out.samples.append(vqa_sample(name, qid, image, question, answer, closed_or_open(answer, rec.get("answer_type"))))
    return out


def _test_phrase(rec: dict) -> str | None:
    phrase = rec.get("phrase_type")
    if phrase is None or str(phrase).lower().startswith("test"):
        return None
    return "training question (phrase_type not test_*)"


def read_vqa_rad(path: Path, allow_pickle: bool = False) -> BenchmarkRead:
    ann, layout = _pick_vqa_rad(Path(path))
    base = ann.parent
    bases = [base, base / "VQA_RAD Image Folder", base / "images", base / "imgs", base / "figures"]
    return _read("vqa_rad", ann, layout, "image_name", bases, _test_phrase)


def _english(rec: dict) -> str | None:
    lang = str(rec.get("q_lang", "en")).lower()
    return None if lang == "en" else f"not English (q_lang={lang})"


def read_slake(path: Path, allow_pickle: bool = False) -> BenchmarkRead:
    path = Path(path)
    ann = path if path.is_file() else first_existing(path, ("test.json", "Slake1.0/test.json", "*test*.json"))
    if ann is None:
        raise BenchmarkError(f"slake: no annotation file under {path} (looked for test.json)")
    base = ann.parent
    return _read("slake", ann, "Slake1.0 JSON", "img_name", [base / "imgs", base, base / "images"], _english)
