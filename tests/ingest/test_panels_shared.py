"""Compound-figure separation (pipeline/ingest/panels.py) on real PMC figures (../shared/data; the module
skips once, with a reason, when they are absent).

Expected counts for ../shared/data/compound-figures were verified by looking at each image:
  PM11906265-Figure3-1   7: micrographs a)-f) in a 3x2 grid plus line chart g); the rotated row
                            labels/arrows and the "Aβ Amyloid"/"Control" captions are not panels.
  PM27563885-Figure4-1  18: lettered A (6 rows x 2 micrographs) and B (6 bar charts); every
                            micrograph and chart is separated by a clear white gutter.
  PM26415837-Figure11-1  6: six peptide renderings m1_n ... m5 in two rows of three.
  PM25595498-Figure1-1   7 whitespace-separated blocks: lettered A-D, where A and B each stack a
                            pedigree over a chromatogram (two blocks each), C is one alignment and
                            D holds two structures side by side. Gutters only separate these 7.
  PM26066364-Figure3-1   8 drawing blocks of one reaction scheme (curcumin, two intermediates per
                            row, branching arrow). It is not a lettered compound figure, but its
                            blocks are split by clean white gutters, which is what XY-cut keys on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from shared_data import require_shared

from pipeline.ingest.panels import detect_panels, panel_label
from schemas import PanelSource

require_shared("compound-figures", module=True)

EXPECTED = {
    "PM11906265-Figure3-1.png": 7,
    "PM27563885-Figure4-1.png": 18,
    "PM26415837-Figure11-1.png": 6,
    "PM25595498-Figure1-1.png": 7,
    "PM26066364-Figure3-1.png": 8,
}


@pytest.fixture(scope="module")
def compound(shared_compound: Path) -> dict[str, list]:
    out = {}
    for name in EXPECTED:
        with Image.open(shared_compound / name) as im:
            out[name] = (im.size, detect_panels(im.convert("RGB")))
    return out


@pytest.mark.parametrize("name", list(EXPECTED))
def test_shared_compound_figure_counts(compound, name: str):
    size, panels = compound[name]
    assert len(panels) == EXPECTED[name]
    assert [p.label for p in panels] == [panel_label(i) for i in range(len(panels))]
    w, h = size
    for p in panels:
        assert p.source == PanelSource.DETECTED and p.method == "xy-cut" and 0 < p.confidence <= 1
        assert 0 <= p.box.x0 < p.box.x1 <= w and 0 <= p.box.y0 < p.box.y1 <= h
        assert p.box_norm.x1 == pytest.approx(p.box.x1 / w)
    # detected panels never overlap
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            assert min(a.box.x1, b.box.x1) <= max(a.box.x0, b.box.x0) or min(a.box.y1, b.box.y1) <= max(a.box.y0, b.box.y0)


def test_grid_reading_order(compound):
    _, panels = compound["PM27563885-Figure4-1.png"]
    rows = [panels[i:i + 3] for i in range(0, 18, 3)]
    for row in rows:  # each row: micrograph, micrograph, chart, left to right at the same height
        assert row[0].box.x1 <= row[1].box.x0 and row[1].box.x1 <= row[2].box.x0
        assert abs(row[0].box.y0 - row[2].box.y0) < 20
    assert all(rows[i][0].box.y1 <= rows[i + 1][0].box.y0 for i in range(5))
    _, panels = compound["PM11906265-Figure3-1.png"]
    chart = panels[-1]
    assert chart.box.y0 > 400 and chart.box.x1 - chart.box.x0 > 400  # g) spans the bottom


def test_pedigree_figure_blocks(compound):
    _, panels = compound["PM25595498-Figure1-1.png"]
    top = [p for p in panels if p.box.y1 < 360]
    assert len(top) == 4  # pedigree A, pedigree B, chromatograms A, chromatograms B
    alignment = panels[4]
    assert alignment.box.x1 - alignment.box.x0 > 700  # panel C, one text block across the width
