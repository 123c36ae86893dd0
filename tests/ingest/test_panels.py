"""Compound-figure separation (pipeline/ingest/panels.py) on drawn grids; our own demo figures are
checked through ingest (test_ingest_demo.py, test_ingest_formats.py) and the real PMC figures in
../shared/data by test_panels_shared.py."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.ingest.panels import boxes_to_panels, detect_panels, panel_label
from schemas import PanelSource


def grid_image(rows: int, cols: int, panel=(120, 90), gutter=12, bg=(255, 255, 255), fg=(40, 80, 160)) -> Image.Image:
    w, h = panel
    img = Image.new("RGB", (cols * w + (cols + 1) * gutter, rows * h + (rows + 1) * gutter), bg)
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(1)
    for r in range(rows):
        for c in range(cols):
            x, y = gutter + c * (w + gutter), gutter + r * (h + gutter)
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=fg)
            for _ in range(5):  # some texture inside each panel
                px, py = x + rng.integers(5, w - 20), y + rng.integers(5, h - 20)
                draw.ellipse([px, py, px + 12, py + 12], fill=tuple(255 - v for v in fg))
    return img


@pytest.mark.parametrize("rows,cols,gutter", [(1, 2, 12), (2, 2, 12), (2, 3, 3), (3, 1, 8), (4, 4, 6)])
def test_synthetic_white_grids(rows, cols, gutter):
    panels = detect_panels(grid_image(rows, cols, gutter=gutter))
    assert len(panels) == rows * cols
    assert panels[0].box.x0 == gutter and panels[0].box.y0 == gutter


def test_dark_background_and_thin_gutters():
    img = grid_image(2, 3, gutter=2, bg=(0, 0, 0), fg=(200, 200, 60))
    panels = detect_panels(img)
    assert len(panels) == 6
    assert [p.label for p in panels] == list("ABCDEF")
    assert panels[1].box.x0 > panels[0].box.x1 - 1 and panels[3].box.y0 > panels[0].box.y1 - 1


def test_panel_letters_and_axis_labels_are_not_panels():
    img = grid_image(1, 3, panel=(200, 160), gutter=30)
    draw = ImageDraw.Draw(img)
    for i in range(3):  # a letter in each gutter corner and a caption-like label under each panel
        x = 30 + i * 230
        draw.text((x - 22, 8), "ABC"[i], fill=(0, 0, 0))
        draw.text((x + 60, 195), "label", fill=(0, 0, 0))
    panels = detect_panels(img)
    assert len(panels) == 3


def test_single_panel_is_whole():
    rng = np.random.default_rng(0)
    arr = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    (panel,) = detect_panels(Image.fromarray(arr))
    assert panel.source == PanelSource.WHOLE and panel.label == "A" and panel.method == "whole-image"
    assert (panel.box.x0, panel.box.y0, panel.box.x1, panel.box.y1) == (0, 0, 320, 240)
    (blank,) = detect_panels(Image.new("RGB", (50, 40), "white"))
    assert blank.source == PanelSource.WHOLE


def test_large_image_is_downscaled_and_boxes_mapped_back():
    img = grid_image(2, 2, panel=(1400, 1000), gutter=60)
    panels = detect_panels(img)
    assert len(panels) == 4
    b = panels[3].box
    assert abs(b.x0 - (60 + 1400 + 60)) <= 4 and abs(b.y1 - (60 + 1000 + 60 + 1000)) <= 4


def test_boxes_to_panels_orders_and_clamps():
    panels = boxes_to_panels([(110, 0, 200, 50, 0.9), (0, 0, 100, 50, 0.8), (-5, 60, 250, 120, 1.0)], (200, 120),
                             PanelSource.SUPPLIED, "yolo")
    assert [(p.label, p.box.x0, p.confidence) for p in panels] == [("A", 0, 0.8), ("B", 110, 0.9), ("C", 0, 1.0)]
    assert panels[2].box.x1 == 200


def test_panel_label_beyond_z():
    assert [panel_label(i) for i in (0, 25, 26, 27)] == ["A", "Z", "AA", "AB"]
