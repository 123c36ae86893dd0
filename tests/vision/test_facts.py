"""Measured image facts on our own figures in data/ (drawn by data/make_demo.py, so we know what is in
them); tests/vision/test_facts_shared.py adds the real PMC figures when ../shared/data is there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.vision.crops import CropError, crop, pixel_box, save_content_addressed
from pipeline.vision.facts import fact_lines, measure
from pipeline.vision.layout import describe_layout
from schemas import Box

# Drawn grey (simulated radiographs / ultrasound frames made from one channel) on a white page.
GRAYSCALE = ["demo/demo-002/demo-002-g1.jpg", "formats/nxml/demo-101/demo-101-g002.jpg"]
# Charts drawn with blue (#3a7bd5) and red (#d5533a) bars and lines on white.
CHARTS = ["formats/m3llm/images/PMC900121_F1.png", "demo/demo-001/demo-001-g1.png"]
# Fluorescence (green on black) and stained (pink-purple on near-white) simulated sections.
SECTIONS = ["formats/llava-med/figures/900112_F3.jpg", "demo/demo-002/demo-002-g2.jpg"]
CHROMATIC = {"red", "dark red", "pink", "orange", "brown", "yellow", "olive", "green", "dark green",
             "cyan", "light blue", "blue", "dark blue", "purple", "magenta"}


def _open(data: Path, rel: str) -> Image.Image:
    with Image.open(data / rel) as img:
        return img.convert("RGB")


@pytest.mark.parametrize("rel", GRAYSCALE)
def test_grey_figures_are_measured_grayscale(demo_data, rel):
    facts = measure(_open(demo_data, rel))
    assert facts.is_grayscale
    assert not CHROMATIC & set(facts.dominant_colours)


@pytest.mark.parametrize("rel", CHARTS)
def test_charts_are_colour_on_white_with_their_bar_colours(demo_data, rel):
    facts = measure(_open(demo_data, rel))
    assert not facts.is_grayscale
    assert facts.dominant_colours[0] == "white"
    assert {"blue", "red"} <= set(facts.dominant_colours)


@pytest.mark.parametrize("rel", SECTIONS)
def test_sections_report_green_fluorescence_and_pink_stain(demo_data, rel):
    names = set(measure(_open(demo_data, rel)).dominant_colours)
    assert {"green", "dark green"} & names and {"pink", "purple", "magenta"} & names


def test_basic_numbers_match_the_file(demo_data):
    img = _open(demo_data, CHARTS[0])
    facts = measure(img)
    assert (facts.width, facts.height) == img.size == (672, 552)  # 2x2 panels of 300x240, 24 px gutters
    assert facts.aspect_ratio == pytest.approx(672 / 552, abs=1e-3)
    lum = np.asarray(img.convert("L"), dtype=np.float32) / 255
    assert facts.brightness == pytest.approx(float(lum.mean()), abs=0.02)
    assert 0 < facts.edge_density < 1 and 0 <= facts.text_likeness <= 1


def test_text_heavy_charts_blank_pages_and_micrographs_differ(demo_data):
    chart = measure(_open(demo_data, CHARTS[0]))  # axis labels, tick numbers, panel letters
    micrograph = measure(_open(demo_data, "demo/demo-003/demo-003-g3.jpg"))  # blurred blobs, no text
    blank = measure(Image.new("RGB", (400, 300), "white"))
    assert blank.edge_density == 0 and blank.text_likeness == 0 and blank.brightness == 1.0
    assert blank.dominant_colours == ["white"] and blank.is_grayscale
    assert chart.edge_density > 0.02 and chart.text_likeness > 0.2 > micrograph.text_likeness
    assert micrograph.brightness < 0.3 < chart.brightness


def test_layout_from_panel_boxes_of_our_grid_figure(demo_data):
    img = _open(demo_data, CHARTS[0])  # panels at x 24 and 348, y 24 and 288, each 300x240
    boxes = [Box(x0=x, y0=y, x1=x + 300, y1=y + 240) for y in (24, 288) for x in (24, 348)]
    facts = measure(img, boxes)
    assert facts.n_panels == 4 and facts.layout == "2 rows x 2 columns"
    assert measure(img, [*boxes[:2], Box(x0=24, y0=288, x1=648, y1=528)]).layout == "2 rows (2, 1 panels)"
    assert measure(img).layout == "single panel" and measure(img).n_panels == 1


def test_layout_tolerates_ragged_rows():
    boxes = [Box(x0=0, y0=0, x1=10, y1=10), Box(x0=12, y0=2, x1=22, y1=11), Box(x0=24, y0=1, x1=30, y1=9)]
    assert describe_layout(boxes) == "1 row x 3 columns"
    stacked = [Box(x0=0, y0=0, x1=10, y1=10), Box(x0=0, y0=11, x1=10, y1=20)]
    assert describe_layout(stacked) == "2 rows x 1 column"


def test_fact_lines_state_the_numbers(demo_data):
    facts = measure(_open(demo_data, GRAYSCALE[1]))
    text = "\n".join(fact_lines(facts))
    assert "672x552" in text and "aspect ratio 1.217" in text and "grayscale image" in text


def test_crops_are_content_addressed_and_written_once(demo_data, tmp_path):
    img = _open(demo_data, CHARTS[0])
    box = Box(x0=24, y0=24, x1=324, y1=264)
    path = save_content_addressed(crop(img, box), tmp_path)
    assert path.parent == tmp_path and path.suffix == ".png" and len(path.stem) == 64
    stamp = path.stat().st_mtime_ns
    again = save_content_addressed(crop(img, box), tmp_path)
    assert again == path and path.stat().st_mtime_ns == stamp  # same pixels, same file, not rewritten
    with Image.open(path) as saved:
        assert saved.size == (300, 240)
    other = save_content_addressed(crop(img, Box(x0=348, y0=24, x1=648, y1=264)), tmp_path)
    assert other != path and len(list(tmp_path.iterdir())) == 2


def test_crop_boxes_are_clamped_and_degenerate_ones_refused():
    assert pixel_box(Box(x0=-5, y0=-5, x1=50, y1=900), 100, 80) == (0, 0, 50, 80)
    with pytest.raises(CropError):
        pixel_box(Box(x0=99.6, y0=0, x1=120, y1=10), 100, 80)


def _reference_colours(rgb: np.ndarray, k: int = 3, min_share: float = 0.05, min_hue_share: float = 0.01) -> list[str]:
    """The per-pixel path the vectorised one replaced: every pixel against every palette colour."""
    from pipeline.vision import facts as f

    def nearest(pixels, palette):
        return ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(-1).argmin(axis=1)

    step = max(1, max(rgb.shape[:2]) // 128)
    pixels = rgb[::step, ::step].reshape(-1, 3)
    total = max(1, len(pixels))
    counts = np.bincount(nearest(pixels, f._RGB), minlength=len(f._NAMES)) / total
    order = np.argsort(-counts, kind="stable")
    names = [f._NAMES[i] for i in order[:k] if counts[i] >= min_share] or [f._NAMES[int(order[0])]]
    chroma = pixels.max(axis=1) - pixels.min(axis=1)
    chromatic = pixels[chroma > f._GRAY_CHROMA]
    if len(chromatic):
        hue_counts = np.bincount(nearest(chromatic, f._RGB[f._HUES]), minlength=len(f._HUES)) / total
        for i in np.argsort(-hue_counts, kind="stable")[:k]:
            name = f._NAMES[f._HUES[i]]
            if hue_counts[i] >= min_hue_share and name not in names:
                names.append(name)
    return names


def _generated_images() -> list[Image.Image]:
    """Noise, flat fills, exact ties between palette colours, a multi-panel plot-like figure."""
    from PIL import ImageDraw

    rng = np.random.default_rng(7)
    images = [Image.fromarray(rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)),
              Image.new("RGB", (64, 40), "white"), Image.new("RGB", (90, 90), (35, 60, 170))]
    # (99, 99, 99) is as far from "dark gray" as from "gray": the tie must resolve as before (first)
    images.append(Image.new("RGB", (50, 70), (99, 99, 99)))
    fig = Image.new("RGB", (900, 600), "white")
    draw = ImageDraw.Draw(fig)
    for i, colour in enumerate([(210, 40, 40), (40, 80, 210), (50, 170, 60), (240, 150, 180)]):
        x0 = 20 + (i % 2) * 440
        y0 = 20 + (i // 2) * 290
        draw.rectangle([x0, y0, x0 + 400, y0 + 260], outline="black", width=3)
        draw.ellipse([x0 + 60, y0 + 40, x0 + 260, y0 + 220], fill=colour)
        draw.text((x0 + 10, y0 + 5), f"({'abcd'[i]}) panel", fill="black")
    images.append(fig)
    gradient = np.stack(np.meshgrid(np.arange(256), np.arange(256)), -1).astype(np.uint8)
    images.append(Image.fromarray(np.dstack([gradient, np.full((256, 256), 128, np.uint8)])))
    return images


def test_vectorised_colours_equal_the_per_pixel_path():
    from pipeline.vision import facts as f

    for img in _generated_images():
        rgb = f._rgb_array(img)
        step = max(1, max(rgb.shape[:2]) // 128)
        pixels = rgb[::step, ::step].reshape(-1, 3)
        assert np.array_equal(f._nearest(pixels, f._RGB), f._nearest_direct(pixels, f._RGB))
        assert f.dominant_colours(rgb) == _reference_colours(rgb)
        chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
        assert f.is_grayscale(rgb) == (float((chroma > f._GRAY_CHROMA).mean()) < f._GRAY_SHARE)
    # non-integer pixels (a caller's own float array) take the direct path and still agree
    odd = np.random.default_rng(1).random((500, 3)).astype(np.float32) * 255
    assert np.array_equal(f._nearest(odd, f._RGB), f._nearest_direct(odd, f._RGB))
