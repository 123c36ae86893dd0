"""M3LLM-style and LLaVA-Med-style record ingest on small records written here, with generated images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hostile import write
from pipeline.ingest import IngestConfig, run_ingest
from pipeline.ingest.m3llm import parse_yolo
from pipeline.ingest.records import detect_format
from pipeline.io.parquet import read_all
from schemas import Article, Figure, PanelSource, Reject, RejectReason, SourceFormat


def two_panel_image(path: Path) -> Path:
    """400x200: two dark squares with a white gutter, so detection also finds two panels."""
    arr = np.full((200, 400, 3), 255, np.uint8)
    arr[20:180, 20:180] = (30, 90, 160)
    arr[20:180, 220:380] = (160, 40, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def ingest(src: Path, tmp_path: Path, **cfg):
    out = tmp_path / "out"
    result = run_ingest(src, out, IngestConfig(**cfg))
    return result, read_all(out / "figures", Figure), read_all(out / "rejects" / "ingest", Reject), read_all(out / "articles", Article)


@pytest.fixture()
def m3llm_folder(tmp_path: Path) -> Path:
    src = tmp_path / "m3"
    two_panel_image(src / "images" / "PMC111_F1.png")
    two_panel_image(src / "images" / "PMC111_F2.png")
    two_panel_image(src / "images" / "PMC222_F1.png")
    # YOLO boxes for F1 next to the image; for F2 in labels/ (three boxes, one low-confidence in the CSV)
    write(src / "images" / "PMC111_F1.txt", "0 0.25 0.5 0.4 0.8 0.85\n0 0.75 0.5 0.4 0.8 0.9\n")
    write(src / "labels" / "PMC111_F2.txt", "0 0.75 0.5 0.4 0.8\n0 0.25 0.5 0.4 0.8\n0 0.5 0.1 0.1 0.1\nnot a box\n")
    # M3LLM names sub-figure i of image X "X_<i>.jpg"
    write(src / "subfig_confidence.csv", "filename,prob\nPMC111_F1.png_0.jpg,0.85\nPMC111_F1.png_1.jpg,0.9\n"
          "PMC111_F2.png_0.jpg,0.95\nPMC111_F2.png_1.jpg,0.91\nPMC111_F2.png_2.jpg,0.20\n")
    records = [
        {"image": "images/PMC111_F1.png", "caption": "Two conditions. (A) Control. (B) Treated.", "pmcid": "PMC111",
         "fig_label": "Figure 1", "inline_context": ["As shown in Figure 1A, the control was flat."], "title": "A test article"},
        {"image_path": "images/PMC111_F2.png", "figure_caption": "Second figure.", "article_id": "PMC111",
         "fig_id": "F2", "context": "Figure 2 shows more."},
        {"img_path": "images/PMC222_F1.png", "caption": "No labels here, so panels are detected.", "pmcid": "PMC222"},
        {"image": "images/missing.png", "caption": "Image file is absent.", "pmcid": "PMC333"},
        {"image": "images/PMC111_F1.png", "caption": "", "pmcid": "PMC444"},
    ]
    write(src / "records.json", json.dumps(records))
    return src


def test_m3llm_records(m3llm_folder: Path, tmp_path: Path):
    result, figures, rejects, articles = ingest(m3llm_folder, tmp_path)
    by_id = {f.figure_id: f for f in figures}
    assert sorted(by_id) == ["PMC111/f2", "PMC111/figure-1", "PMC222/pmc222-f1", "PMC333/missing"]
    f1 = by_id["PMC111/figure-1"]
    assert f1.source_format == SourceFormat.M3LLM and f1.label == "Figure 1" and f1.article_title == "A test article"
    assert [s.label for s in f1.sub_captions] == ["A", "B"] and f1.mentions == ["As shown in Figure 1A, the control was flat."]
    assert [p.source for p in f1.panels] == [PanelSource.SUPPLIED] * 2 and f1.panels[0].method == "yolo"
    assert f1.panels[0].box.model_dump() == {"x0": 20, "y0": 20, "x1": 180, "y1": 180}
    assert [p.confidence for p in f1.panels] == [0.85, 0.9]
    f2 = by_id["PMC111/f2"]
    # the 0.20-probability box is filtered by the 0.7 threshold; order is reading order, not file order
    assert [(p.label, p.box.x0, p.confidence) for p in f2.panels] == [("A", 20, 0.91), ("B", 220, 0.95)]
    assert f2.mentions == ["Figure 2 shows more."]
    f3 = by_id["PMC222/pmc222-f1"]
    assert [p.source for p in f3.panels] == [PanelSource.DETECTED] * 2
    assert not by_id["PMC333/missing"].has_image
    assert sorted(r.reason for r in rejects) == sorted([RejectReason.IMAGE_MISSING, RejectReason.CAPTION_MISSING, RejectReason.INPUT_INVALID])
    assert any("not a box" in r.detail for r in rejects)
    assert {a.article_id: a.has_images for a in articles} == {"PMC111": True, "PMC222": True, "PMC333": False}
    assert result.figures == 4


def test_m3llm_threshold_is_configurable(m3llm_folder: Path, tmp_path: Path):
    _, figures, _, _ = ingest(m3llm_folder, tmp_path, panel_threshold=0.1)
    f2 = next(f for f in figures if f.figure_id == "PMC111/f2")
    assert len(f2.panels) == 3


def test_parse_yolo_rejects_out_of_range():
    boxes, bad = parse_yolo("0 0.5 0.5 0.2 0.2\n0 1.5 0.5 0.2 0.2\n1 2 3\n", (100, 100))
    assert boxes[0] == pytest.approx((40, 40, 60, 60, 1.0)) and boxes[1] is None and boxes[2] is None
    assert len(bad) == 2


def test_llava_med_records_jsonl(tmp_path: Path):
    src = tmp_path / "llava"
    two_panel_image(src / "images" / "31234567_F3.jpg".replace(".jpg", ".png"))
    lines = [
        {"pair_id": "31234567_F3", "image": "31234567_F3.png", "pmid": "31234567", "fig_label": "F3",
         "fig_caption": "Tumour growth. (a) Volume over time. (b) Final weight.",
         "in_text_mention": [{"tokens": "Tumours grew faster (Fig. 3a)."}, {"tokens": "Weights differed (Fig. 3b)."}],
         "domain": {"chest_xray": False}},
        {"pair_id": "31234567_F4", "image": "31234567_F4.png", "pmid": 31234567, "fig_label": "F4",
         "caption": "A figure whose image was not shipped.", "in_text_mention": ["Plain string mention."]},
    ]
    text = "\n".join(json.dumps(r) for r in lines) + "\n{broken json\n"
    write(src / "pairs.jsonl", text)
    _, figures, rejects, articles = ingest(src, tmp_path)
    assert [f.figure_id for f in figures] == ["PMID31234567/f3", "PMID31234567/f4"]
    f3, f4 = figures
    assert f3.source_format == SourceFormat.LLAVA_MED and f3.has_image and len(f3.panels) == 2
    assert [s.label for s in f3.sub_captions] == ["A", "B"]
    assert f3.mentions == ["Tumours grew faster (Fig. 3a).", "Weights differed (Fig. 3b)."]
    assert f4.mentions == ["Plain string mention."] and not f4.has_image
    assert sorted(r.reason for r in rejects) == [RejectReason.IMAGE_MISSING, RejectReason.INPUT_INVALID]
    assert any(r.item == "pairs.jsonl:3" for r in rejects)
    assert [(a.article_id, a.figure_ids) for a in articles] == [("PMID31234567", ["PMID31234567/f3", "PMID31234567/f4"])]


def test_format_detection_and_override(tmp_path: Path):
    assert detect_format([{"pair_id": 1, "image": "x"}]) == "llava-med"
    assert detect_format([{"image": "x", "caption": "y"}]) == "m3llm"
    assert detect_format([{"foo": 1}]) is None
    src = tmp_path / "in"
    two_panel_image(src / "a.png")
    write(src / "recs.json", json.dumps({"records": [{"image": "a.png", "caption": "Cap.", "pmcid": "PMC9", "fig_label": "Fig 1"}]}))
    _, figures, _, _ = ingest(src, tmp_path, format="llava-med")
    assert figures[0].source_format == SourceFormat.LLAVA_MED and figures[0].figure_id == "PMC9/fig-1"


def test_unrecognised_json_is_rejected(tmp_path: Path):
    src = tmp_path / "in"
    write(src / "weird.json", json.dumps([{"foo": 1}]))
    write(src / "latin.json", b'[{"caption": "caf\xe9"}]')
    write(src / "scalar.json", "42")
    _, figures, rejects, _ = ingest(src, tmp_path)
    assert figures == []
    assert sorted((r.item, r.reason) for r in rejects) == [
        ("latin.json", RejectReason.ENCODING), ("scalar.json", RejectReason.INPUT_INVALID), ("weird.json", RejectReason.INPUT_INVALID)]


def test_json_image_path_traversal(tmp_path: Path):
    two_panel_image(tmp_path / "secret.png")
    src = tmp_path / "in"
    write(src / "r.json", json.dumps([{"image": "../secret.png", "caption": "Sneaky.", "pmcid": "PMC1"}]))
    _, figures, rejects, _ = ingest(src, tmp_path)
    assert not figures[0].has_image and [r.reason for r in rejects] == [RejectReason.PATH_OUTSIDE_INPUT]
