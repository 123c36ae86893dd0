"""Each benchmark in the layout it is released in (VQA-RAD official JSON and data_RAD, SLAKE 1.0,
PathVQA pickles/JSON, PMC-VQA v1/v2, Hugging Face parquet copies), built here with generated images
and our own questions."""

from __future__ import annotations

import csv
import json
import os
import pickle
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.evaluate.benchmarks import BenchmarkError, load_benchmark


def image(path: Path, colour=(120, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 24), colour).save(path)
    return path


def rad_record(qid: int, name: str, phrase: str, answer="yes", kind="CLOSED") -> dict:
    return {"qid": qid, "phrase_type": phrase, "qid_linked_id": f"x{qid}", "image_case_url": "https://example.org/case",
            "image_name": name, "image_organ": "CHEST", "evaluation": "not evaluated", "question": f"Invented question {qid}?",
            "question_rephrase": "NULL", "question_relation": "NULL", "question_frame": "NULL",
            "question_type": "PRES", "answer": answer, "answer_type": kind}


def test_vqa_rad_official_json_scores_only_test_phrase_types(tmp_path: Path):
    image(tmp_path / "VQA_RAD Image Folder" / "synpic100.jpg")
    recs = [rad_record(1, "synpic100.jpg", "freeform"), rad_record(2, "synpic100.jpg", "para"),
            rad_record(3, "synpic100.jpg", "test_freeform"), rad_record(4, "synpic100.jpg", "test_para", 7, "OPEN"),
            rad_record(5, "synpic100.jpg", "frame")]
    (tmp_path / "VQA_RAD Dataset Public.json").write_text(json.dumps(recs))
    read = load_benchmark("vqa_rad", tmp_path)
    assert [s.id for s in read.samples] == ["vqa_rad/3", "vqa_rad/4"]
    assert read.samples[1].reference == "7" and read.samples[1].meta["answer_type"] == "open"
    assert read.records == 5 and read.skipped == {"training question (phrase_type not test_*)": 3}
    assert read.summary()["layout"] == "official JSON"


def test_vqa_rad_data_rad_layout(tmp_path: Path):
    rad = tmp_path / "data_RAD"
    image(rad / "images" / "synpic7.jpg")
    (rad / "trainset.json").write_text(json.dumps([rad_record(1, "synpic7.jpg", "freeform")]))
    (rad / "testset.json").write_text(json.dumps([rad_record(2, "synpic7.jpg", "test_freeform", "no"),
                                                  rad_record(3, "synpic404.jpg", "test_para")]))
    (rad / "imgid2idx.json").write_text(json.dumps({"synpic7.jpg": 0}))
    for where in (tmp_path, rad, rad / "testset.json"):
        read = load_benchmark("vqa_rad", where)
        assert [s.reference for s in read.samples] == ["no"] and read.summary()["layout"] == "data_RAD"
        assert read.skipped == {"image not found": 1}
    with pytest.raises(BenchmarkError, match="imgid2idx.json is a JSON object"):
        load_benchmark("vqa_rad", rad / "imgid2idx.json")


def test_slake_english_test_split(tmp_path: Path):
    root = tmp_path / "Slake1.0"
    image(root / "imgs" / "xmlab102" / "source.jpg")
    rec = {"img_id": 102, "img_name": "xmlab102/source.jpg", "location": "Lung", "modality": "CT",
           "base_type": "vqa", "content_type": "Modality", "triple": ["vhead", "_", "_"], "qid": 9}
    test = [dict(rec, question="Which modality is shown?", answer="CT", answer_type="OPEN", q_lang="en"),
            dict(rec, question="这是什么成像方式?", answer="CT", answer_type="OPEN", q_lang="zh")]
    (root / "test.json").write_text(json.dumps(test, ensure_ascii=False), encoding="utf-8")
    (root / "train.json").write_text(json.dumps([dict(rec, question="train only", answer="x", q_lang="en")]))
    (root / "validate.json").write_text("[]")
    read = load_benchmark("slake", root)
    assert [s.reference for s in read.samples] == ["CT"] and read.skipped == {"not English (q_lang=zh)": 1}


def pathvqa_release(root: Path) -> None:
    for k in range(2):
        image(root / "images" / "test" / f"test_{k:04d}.jpg")
    recs = [{"image": "test_0000", "question": "Is there fibrosis?", "answer": "yes"},
            {"image": "test_0001", "question": "What organ is this?", "answer": "made-up organ"},
            {"image": "test_0099", "question": "Where is it?", "answer": "nowhere"}]
    (root / "qas" / "test").mkdir(parents=True)
    (root / "qas" / "test" / "test_qa.pkl").write_bytes(pickle.dumps(recs))
    (root / "qas" / "train").mkdir()
    (root / "qas" / "train" / "train_qa.pkl").write_bytes(pickle.dumps(recs[:1]))


def test_pathvqa_pickles_need_allow_pickle(tmp_path: Path):
    root = tmp_path / "pvqa"
    pathvqa_release(root)
    with pytest.raises(BenchmarkError, match="--allow-pickle"):
        load_benchmark("pathvqa", root)
    read = load_benchmark("pathvqa", root, allow_pickle=True)
    assert [s.meta["answer_type"] for s in read.samples] == ["closed", "open"]
    assert read.samples[0].images[0].name == "test_0000.jpg" and read.skipped == {"image not found": 1}


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pathvqa_pickle_with_code_is_refused_even_when_allowed(tmp_path: Path):
    root = tmp_path / "pvqa"
    pathvqa_release(root)
    (root / "qas" / "test" / "test_qa.pkl").write_bytes(pickle.dumps([_Evil()]))
    with pytest.raises(BenchmarkError, match="refusing to load"):
        load_benchmark("pathvqa", root, allow_pickle=True)


def test_pathvqa_converted_to_json(tmp_path: Path):
    root = tmp_path / "pvqa"
    pathvqa_release(root)
    recs = pickle.loads((root / "qas" / "test" / "test_qa.pkl").read_bytes())
    (root / "qas" / "test" / "test_qa.json").write_text(json.dumps(recs))
    read = load_benchmark("pathvqa", root)  # JSON is preferred and needs no flag
    assert read.summary()["layout"] == "JSON" and len(read.samples) == 2


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_pmc_vqa_v2_letter_in_answer(tmp_path: Path):
    image(tmp_path / "figures" / "PMC500_F1.jpg")
    base = {"Figure_path": "PMC500_F1.jpg", "Caption": "An invented caption.", "Question": "Which view is shown?",
            "Choice A": " A:Axial", "Choice B": " B:Coronal", "Choice C": " C:Sagittal", "Choice D": " D:Oblique"}
    write_csv(tmp_path / "test_2.csv", [dict(base, Answer="C", split="test"), dict(base, Answer="B:Coronal", split="test"),
                                        dict(base, Answer="Z", split="test")])
    read = load_benchmark("pmc_vqa", tmp_path / "test_2.csv")
    assert [s.meta["answer_letter"] for s in read.samples] == ["C", "B"]
    assert read.samples[0].reference == "C. Sagittal" and read.summary()["layout"] == "v2"
    assert read.skipped == {"answer not one of A-D": 1}


def test_pmc_vqa_v1_folder(tmp_path: Path):
    image(tmp_path / "images" / "PMC1_F2.jpg")
    write_csv(tmp_path / "test.csv", [{"Figure_path": "PMC1_F2.jpg", "Question": "Stain?", "Answer": "Gram",
                                       "Choice A": "A:H&E", "Choice B": "B:Gram", "Choice C": "C:PAS", "Choice D": "D:Silver",
                                       "Answer_label": "B"}])
    assert load_benchmark("pmc_vqa", tmp_path).samples[0].reference == "B. Gram"


def hf_parquet(folder: Path, columns: dict, n_train: int = 1) -> None:
    """Write the parquet files as `datasets` itself does (Image feature -> {bytes, path} struct)."""
    import datasets

    features = {k: datasets.Image() if k == "image" else datasets.Value("string") for k in columns}
    ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    (folder / "data").mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(folder / "data" / "test-00000-of-00001.parquet"))
    ds.select(range(n_train)).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))


@pytest.mark.parametrize("name", ["vqa_rad", "pathvqa", "slake"])
def test_hf_parquet_copies(tmp_path: Path, name: str):
    pics = [image(tmp_path / "src" / f"{k}.png", (k * 40, 10, 10)) for k in range(3)]
    cols = {"image": [{"bytes": p.read_bytes(), "path": p.name} for p in pics], "question": ["Is it red?", "What is it?", "Is it blue?"],
            "answer": ["yes", "a made-up lesion", "no"]}
    if name == "slake":
        cols["q_lang"] = ["en", "zh", "en"]
    hf_parquet(tmp_path / name, cols)
    for p in pics:
        p.unlink()  # the parquet carries the pixels itself, as the Hub copies do
    read = load_benchmark(name, tmp_path / name, cache_dir=tmp_path / "cache")
    expected = ["yes", "no"] if name == "slake" else ["yes", "a made-up lesion", "no"]
    assert [s.reference for s in read.samples] == expected and read.summary()["layout"] == "HF parquet"
    assert read.records == 3  # only the test split is read
    with Image.open(read.samples[0].images[0]) as im:
        assert im.size == (24, 24)


def test_zero_scorable_items_is_an_error(tmp_path: Path):
    (tmp_path / "VQA_RAD Dataset Public.json").write_text(json.dumps([rad_record(1, "gone.jpg", "test_freeform")]))
    with pytest.raises(BenchmarkError, match="0 scorable.*image not found.*nothing to score"):
        load_benchmark("vqa_rad", tmp_path)


def test_cli_fails_loudly_on_an_unreadable_benchmark(tmp_path: Path):
    from flows.cli import app

    pathvqa_release(tmp_path / "pvqa")
    (tmp_path / "model").mkdir()
    result = CliRunner().invoke(app, ["evaluate", "--out", str(tmp_path / "eval"), "--base", str(tmp_path / "model"),
                                      "--benchmark", f"pathvqa={tmp_path / 'pvqa'}"])
    assert result.exit_code == 2 and "allow-pickle" in result.output
