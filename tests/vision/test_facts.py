"""Measured image facts on the shared compound figures (real PMC figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.vision.crops import CropError, crop, pixel_box, save_content_addressed
from pipeline.vision.facts import fact_lines, measure
from pipeline.vision.layout import describe_layout
from schemas import Box

# Looked at by eye: an autoradiograph with a line plot, and curcumin chemical structures, are
# black on white; the pedigree with sequence alignments and protein cartoons, the coloured
# peptide models and the stained brain sections with bar charts are in colour.
GRAYSCALE = ["PM11906265-Figure3-1.png", "PM26066364-Figure3-1.png"]
COLOUR = ["PM25595498-Figure1-1.png", "PM26415837-Figure11-1.png", "PM27563885-Figure4-1.png"]


def _open(folder: Path, name: str) -> Image.Image:
    with Image.open(folder / name) as img:
        return img.convert("RGB")


@pytest.mark.parametrize("name", GRAYSCALE)
def test_grayscale_figures_are_measured_grayscale(shared_compound, name):
    facts = measure(_open(shared_compound, name))
    assert facts.is_grayscale
    chromatic = {"red", "dark red", "pink", "orange", "brown", "yellow", "olive", "green", "dark green",
                 "cyan", "light blue", "blue", "dark blue", "purple", "magenta"}
    assert not chromatic & set(facts.dominant_colours)


@pytest.mark.parametrize("name", COLOUR)
def test_colour_figures_are_measured_colour_with_a_hue(shared_compound, name):
    facts = measure(_open(shared_compound, name))
    assert not facts.is_grayscale
    assert len(facts.dominant_colours) >= 2
    assert facts.dominant_colours[0] == "white"  # journal figures sit on a white page


def test_stained_sections_report_brownish_or_pink_hues(shared_compound):
    # IHC sections (DAB brown on pale tissue) and red bars: warm hues must show up by name.
    facts = measure(_open(shared_compound, "PM27563885-Figure4-1.png"))
    assert {"pink", "orange", "brown", "red", "dark red", "yellow"} & set(facts.dominant_colours)


def test_basic_numbers_match_the_file(shared_compound):
    img = _open(shared_compound, "PM26415837-Figure11-1.png")
    facts = measure(img)
    assert (facts.width, facts.height) == img.size == (833, 496)
    assert facts.aspect_ratio == pytest.approx(833 / 496, abs=1e-3)
    lum = np.asarray(img.convert("L"), dtype=np.float32) / 255
    assert facts.brightness == pytest.approx(float(lum.mean()), abs=0.02)
    assert 0 < facts.edge_density < 1 and 0 <= facts.text_likeness <= 1


def test_text_heavy_and_blank_images_differ(shared_compound):
    chem = measure(_open(shared_compound, "PM26066364-Figure3-1.png"))
    blank = measure(Image.new("RGB", (400, 300), "white"))
    assert blank.edge_density == 0 and blank.text_likeness == 0 and blank.brightness == 1.0
    assert chem.edge_density > 0.02 and chem.text_likeness > 0.2
    assert blank.dominant_colours == ["white"] and blank.is_grayscale


def test_layout_from_panel_boxes_of_a_real_figure(shared_compound):
    # The autoradiography figure: a 3 x 2 grid of images (a-f) above one plot spanning the width.
    img = _open(shared_compound, "PM11906265-Figure3-1.png")
    w, h = img.size
    grid = [Box(x0=c * w / 2, y0=r * 0.2 * h, x1=(c + 1) * w / 2 - 4, y1=(r + 1) * 0.2 * h - 4)
            for r in range(3) for c in range(2)]
    plot = Box(x0=0, y0=0.62 * h, x1=w, y1=h)
    facts = measure(img, [*grid, plot])
    assert facts.n_panels == 7
    assert facts.layout == "4 rows (2, 2, 2, 1 panels)"
    assert measure(img, grid).layout == "3 rows x 2 columns"
    assert measure(img).layout == "single panel" and measure(img).n_panels == 1


def test_layout_tolerates_ragged_rows():
    boxes = [Box(x0=0, y0=0, x1=10, y1=10), Box(x0=12, y0=2, x1=22, y1=11), Box(x0=24, y0=1, x1=30, y1=9)]
    assert describe_layout(boxes) == "1 row x 3 columns"
    stacked = [Box(x0=0, y0=0, x1=10, y1=10), Box(x0=0, y0=11, x1=10, y1=20)]
    assert describe_layout(stacked) == "2 rows x 1 column"


def test_fact_lines_state_the_numbers(shared_compound):
    facts = measure(_open(shared_compound, "PM11906265-Figure3-1.png"))
    text = "\n".join(fact_lines(facts))
    assert "504x733" in text and "grayscale image" in text and "portrait" in text


def test_crops_are_content_addressed_and_written_once(shared_compound, tmp_path):
    img = _open(shared_compound, "PM26415837-Figure11-1.png")
    box = Box(x0=0, y0=0, x1=280, y1=248)
    path = save_content_addressed(crop(img, box), tmp_path)
    assert path.parent == tmp_path and path.suffix == ".png" and len(path.stem) == 64
    stamp = path.stat().st_mtime_ns
    again = save_content_addressed(crop(img, box), tmp_path)
    assert again == path and path.stat().st_mtime_ns == stamp  # same pixels, same file, not rewritten
    with Image.open(path) as saved:
        assert saved.size == (280, 248)
    other = save_content_addressed(crop(img, Box(x0=280, y0=0, x1=560, y1=248)), tmp_path)
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
