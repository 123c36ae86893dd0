"""M3LLM's own repository layout: compound/group_<N>/ image folders, YOLO runs under
predict*/labels/, a filename,prob CSV naming sub-figures "<image file name>_<i>.jpg", and the inline
text under `references`. Built here with generated images and our own text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.ingest import IngestConfig, run_ingest
from pipeline.io.parquet import read_rows
from schemas.figure import Figure, PanelSource

TWO = "0 0.25 0.5 0.4 0.8\n0 0.75 0.5 0.4 0.8\n"
THREE = "0 0.17 0.5 0.3 0.8\n0 0.5 0.5 0.3 0.8\n0 0.83 0.5 0.3 0.8\n"


def panel_image(path: Path, n: int) -> None:
    arr = np.full((200, 120 * n, 3), 255, np.uint8)
    for k in range(n):
        arr[20:180, k * 120 + 10:k * 120 + 110] = (40 * k, 90, 160)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=90)


def m3llm_tree(root: Path, images_at: Path, labels_at: Path) -> None:
    panel_image(images_at / "compound" / "group_1" / "PMC222_gr2.jpg", 2)
    panel_image(images_at / "compound" / "group_3" / "PMC333_gr1.jpg", 3)
    panel_image(images_at / "compound" / "group_12" / "PMC444_gr4.jpg", 2)
    for run, name, text in (("predict", "PMC222_gr2", TWO), ("predict2", "PMC333_gr1", THREE), ("predict", "PMC444_gr4", TWO)):
        (labels_at / run / "labels").mkdir(parents=True, exist_ok=True)
        (labels_at / run / "labels" / f"{name}.txt").write_text(text)
    # PMC222: sub-figure 1 scores 0.30 (dropped); PMC333: all kept; PMC444: absent from the CSV
    (root / "subfigure_classification.csv").write_text(
        "filename,prob\nPMC222_gr2.jpg_0.jpg,0.97\nPMC222_gr2.jpg_1.jpg,0.30\n"
        "PMC333_gr1.jpg_0.jpg,0.91\nPMC333_gr1.jpg_1.jpg,0.88\nPMC333_gr1.jpg_2.jpg,0.75\n")
    records = [
        {"image": "PMC222_gr2.jpg", "caption": "Two stains of one invented sample. (A) First. (B) Second.",
         "references": "The invented sample was stained twice (Figure 2)."},
        {"image": "PMC333_gr1.jpg", "caption": "Three made-up views. (a) One. (b) Two. (c) Three.",
         "references": ["Figure 1 shows three views.", "The third view is wider (Fig. 1c)."]},
        {"image": "PMC444_gr4.jpg", "caption": "A figure the classifier never scored.",
         "references": "See Figure 4."},
    ]
    (root / "random_chunk_000.json").write_text(json.dumps(records))


def figures(out: Path) -> dict[str, Figure]:
    return {f.figure_id: f for p in sorted((out / "figures").glob("*.parquet")) for f in read_rows(p, Figure)}


def check(out: Path) -> None:
    figs = figures(out)
    assert sorted(figs) == ["PMC222/pmc222-gr2", "PMC333/pmc333-gr1", "PMC444/pmc444-gr4"]
    assert all(f.has_image for f in figs.values())
    a, b, c = figs["PMC222/pmc222-gr2"], figs["PMC333/pmc333-gr1"], figs["PMC444/pmc444-gr4"]
    assert a.mentions == ["The invented sample was stained twice (Figure 2)."] and len(b.mentions) == 2
    assert [(p.source, p.confidence) for p in a.panels] == [(PanelSource.SUPPLIED, 0.97)]  # 0.30 dropped
    assert [p.confidence for p in b.panels] == [0.91, 0.88, 0.75] and b.panels[0].source == PanelSource.SUPPLIED
    assert c.panels and all(p.source != PanelSource.SUPPLIED for p in c.panels)  # absent from CSV: no supplied boxes


def test_m3llm_layout_found_in_place(tmp_path: Path):
    root = tmp_path / "m3llm"
    root.mkdir()
    m3llm_tree(root, root / "mm_image_files", root / "subfig_bounding_boxes")
    result = run_ingest(root, tmp_path / "out", IngestConfig(detect_panels=False))
    assert result.figures_with_image == 3
    check(tmp_path / "out")


def test_m3llm_roots_given_explicitly(tmp_path: Path):
    root, images, labels = tmp_path / "json", tmp_path / "elsewhere" / "imgs", tmp_path / "yolo_out"
    root.mkdir()
    m3llm_tree(root, images, labels)
    run_ingest(root, tmp_path / "out0", IngestConfig(detect_panels=False))
    assert not any(f.has_image for f in figures(tmp_path / "out0").values())  # not found without the roots
    result = run_ingest(root, tmp_path / "out", IngestConfig(detect_panels=False, image_root=images, labels_root=labels))
    assert result.figures_with_image == 3
    check(tmp_path / "out")


def test_m3llm_threshold_lowered_keeps_scored_subfigures(tmp_path: Path):
    root = tmp_path / "m3llm"
    root.mkdir()
    m3llm_tree(root, root, root)
    run_ingest(root, tmp_path / "out", IngestConfig(detect_panels=False, panel_threshold=0.2))
    figs = figures(tmp_path / "out")
    assert len(figs["PMC222/pmc222-gr2"].panels) == 2
    assert all(p.source != PanelSource.SUPPLIED for p in figs["PMC444/pmc444-gr4"].panels)
