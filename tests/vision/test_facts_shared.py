"""Measured image facts on the shared compound figures (real PMC figures; the module skips once,
with a reason, when ../shared/data is absent). tests/vision/test_facts.py runs the same kinds of
checks on our own figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import require_shared

from pipeline.vision.crops import crop, save_content_addressed
from pipeline.vision.facts import fact_lines, measure
from schemas import Box

require_shared("compound-figures", module=True)

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
