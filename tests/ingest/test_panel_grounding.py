"""Printed panel letters read from the image, and the panels they fix (pipeline/ingest/grounding.py).

Synthetic figures drawn with Pillow (bench/panel_synth.py) and bad input; the real shared figures
against their hand labels are in test_panel_grounding_shared.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.panel_synth import font, make_figure  # noqa: E402
from pipeline.ingest.grounding import ground_panels, letter_panels  # noqa: E402
from pipeline.ingest.panels import boxes_to_panels  # noqa: E402
from schemas import LabelSource, PanelSource  # noqa: E402


def printed(panels) -> list[str]:
    return [p.printed_label for p in panels if p.label_source is LabelSource.PRINTED]


@pytest.mark.parametrize("seed", [1, 11, 13, 14])
def test_synthetic_plain_letters(ocr, seed: int) -> None:
    img, truth = make_figure(seed, "plain")
    panels = ground_panels(img)
    assert [x.upper() for x in printed(panels)] == [p["label"].upper() for p in truth.panels]


def test_sub_panels_stay_panels_grouped_under_their_letter(ocr) -> None:
    img, truth = make_figure(16, "subpanels")
    panels = ground_panels(img)
    assert [p.label for p in panels] == ["A", "B1", "B2", "B3", "B4", "C", "D"]
    assert [p.letter for p in panels if p.label.startswith("B")] == ["B"] * 4


def test_dark_background_and_letters_inside_micrographs(ocr) -> None:
    img, _ = make_figure(10, "dark")
    assert [x.upper() for x in printed(ground_panels(img))] == list("ABCDEF")
    grey = Image.fromarray(np.asarray(img.convert("L")))  # grayscale copy of the same figure
    assert [x.upper() for x in printed(ground_panels(grey))] == list("ABCDEF")


@pytest.mark.parametrize("kind", ["numbers", "none", "nonlatin", "below"])
def test_bad_letters_give_unlabelled_panels(ocr, kind: str) -> None:
    for seed in range(3):
        img, _ = make_figure(100 + seed, kind)
        panels = ground_panels(img)
        assert panels and printed(panels) == [], (kind, seed, printed(panels))


def test_letters_out_of_order_inside_one_panel_are_not_panel_letters(ocr) -> None:
    img = Image.new("RGB", (700, 300), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 680, 280), outline="black", width=3)
    fnt = font("DejaVuSans-Bold.ttf", 22)
    for x, ch in zip(range(100, 600, 80), "FEABDC"):  # gene names along a map
        draw.text((x, 120), ch, font=fnt, fill="black")
        draw.rectangle((x - 10, 150, x + 40, 165), fill="#888")
    assert printed(ground_panels(img)) == []


@pytest.mark.parametrize("size,mode", [((1, 1), "RGB"), ((12, 9), "L"), ((6000, 4000), "RGB"), ((400, 300), "1"),
                                       ((300, 300), "RGBA")])
def test_tiny_huge_and_odd_mode_images_never_crash(ocr, size, mode) -> None:
    img = Image.new(mode, size, 0 if mode == "1" else "white")
    if size[0] > 100:
        ImageDraw.Draw(img).rectangle((10, 10, size[0] // 2, size[1] // 2), fill=1 if mode == "1" else "black")
    panels = ground_panels(img)
    assert panels and printed(panels) == []


def test_black_figure_with_white_letters(ocr) -> None:
    img, _ = make_figure(43, "dark")
    assert [x.upper() for x in printed(ground_panels(img))] == ["A", "B"]


def test_supplied_boxes_get_their_printed_letters(ocr) -> None:
    img, truth = make_figure(11, "plain")
    boxes = [(*p["box"], 0.9) for p in truth.panels]
    supplied = boxes_to_panels(boxes, img.size, PanelSource.SUPPLIED, "yolo")
    # paint over the last box's letter: that box keeps a name that collides with no printed letter
    x0, y0 = truth.panels[-1]["box"][:2]
    ImageDraw.Draw(img).rectangle((x0, y0, x0 + 40, y0 + 40), fill="white")
    lettered = letter_panels(img, supplied)
    assert [p.box for p in lettered] == [p.box for p in supplied]  # boxes are kept as supplied
    assert [p.printed_label for p in lettered[:-1]] == list("ABCDE")
    assert all(p.label_source is LabelSource.PRINTED for p in lettered[:-1])
    assert lettered[-1].label_source is LabelSource.READING_ORDER and lettered[-1].letter is None
    assert len({p.label for p in lettered}) == len(lettered)
