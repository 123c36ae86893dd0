"""Benchmark readers on small fixture files of each accepted layout (our own made-up records)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from pipeline.evaluate.benchmarks import BenchmarkError, read_benchmark


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (120, 30, 30)).save(path)


def test_vqa_rad(tmp_path):
    _image(tmp_path / "VQA_RAD Image Folder" / "scan_001.jpg")
    records = [
        {"image_name": "scan_001.jpg", "question": "Is the left lung darker?", "answer": "yes",
         "answer_type": "CLOSED"},
        {"image_name": "scan_001.jpg", "question": "Which organ is outlined?", "answer": "Liver",
         "answer_type": "OPEN"},
        {"image_name": "missing.jpg", "question": "Is it there?", "answer": "no", "answer_type": "CLOSED"},
        {"question": "no image field", "answer": "x"},
    ]
    (tmp_path / "vqa_rad_public.json").write_text(json.dumps(records))
    samples, problems = read_benchmark("vqa_rad", tmp_path)
    assert [s.meta["answer_type"] for s in samples] == ["closed", "open"]
    assert samples[0].turns == [("human", "<image>\nIs the left lung darker?"), ("gpt", "yes")]
    assert samples[1].images[0].name == "scan_001.jpg" and samples[1].task == "vqa_rad"
    assert len(problems) == 2 and "missing.jpg" in problems[0] and "image_name" in problems[1]


def test_slake_keeps_english(tmp_path):
    _image(tmp_path / "imgs" / "case7" / "source.jpg")
    records = [
        {"img_name": "case7/source.jpg", "question": "What modality is this?", "answer": "MRI",
         "answer_type": "OPEN", "q_lang": "en"},
        {"img_name": "case7/source.jpg", "question": "这是什么成像方式?", "answer": "磁共振",
         "answer_type": "OPEN", "q_lang": "zh"},
        {"img_name": "case7/source.jpg", "question": "Is there a lesion?", "answer": "No",
         "answer_type": "CLOSED", "q_lang": "en"},
    ]
    (tmp_path / "test.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "train.json").write_text("[]")
    samples, problems = read_benchmark("slake", tmp_path)
    assert problems == []
    assert [s.reference for s in samples] == ["MRI", "No"]
    assert [s.meta["answer_type"] for s in samples] == ["open", "closed"]


def test_pathvqa_json_layout(tmp_path):
    _image(tmp_path / "images" / "test_0001.png")
    records = [
        {"image": "test_0001.png", "question": "Are mitotic figures present?", "answer": "yes"},
        {"image": "test_0001.png", "question": "What tissue is shown?", "answer": "gland epithelium"},
        "not a record",
    ]
    ann = tmp_path / "pathvqa_test.json"
    ann.write_text(json.dumps(records))
    samples, problems = read_benchmark("pathvqa", ann)
    assert [s.meta["answer_type"] for s in samples] == ["closed", "open"]
    assert problems == [f"{ann}[2]: not an object"]


def test_pmc_vqa_csv(tmp_path):
    _image(tmp_path / "figures" / "PMC100_fig2.jpg")
    rows = [
        {"Figure_path": "PMC100_fig2.jpg", "Question": "Which stain was used?", "Answer": "Trichrome",
         "Choice A": "A:H&E", "Choice B": " B:Trichrome", "Choice C": "C:Gram", "Choice D": "D:Silver",
         "Answer_label": "B"},
        {"Figure_path": "PMC100_fig2.jpg", "Question": "Bad label", "Answer": "x", "Choice A": "p",
         "Choice B": "q", "Choice C": "r", "Choice D": "s", "Answer_label": "E"},
    ]
    with (tmp_path / "test_clean.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    samples, problems = read_benchmark("pmc_vqa", tmp_path)
    assert len(samples) == 1 and "Answer_label 'E'" in problems[0]
    s = samples[0]
    assert s.meta == {"answer_letter": "B", "options": ["H&E", "Trichrome", "Gram", "Silver"]}
    assert "\nA. H&E\nB. Trichrome\nC. Gram\nD. Silver\n" in s.turns[0][1]
    assert s.reference == "B. Trichrome"


def test_unknown_benchmark_and_missing_file(tmp_path):
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        read_benchmark("medmnist", tmp_path)
    with pytest.raises(BenchmarkError, match="no annotation file"):
        read_benchmark("vqa_rad", tmp_path)
