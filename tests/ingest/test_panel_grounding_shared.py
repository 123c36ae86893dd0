"""Printed panel letters on the real PubMed Central figures in ../shared/data, against the
hand-written labels in bench/panel_labels/real.json (letters and boxes written down by looking at
each shared image). The synthetic and bad-input cases run without shared data in
test_panel_grounding.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pipeline.ingest.grounding import ground_panels  # noqa: E402
from schemas import LabelSource  # noqa: E402
from shared_data import require_shared  # noqa: E402

COMPOUND = require_shared("compound-figures", module=True)
LABELS = json.loads((Path(__file__).resolve().parents[2] / "bench" / "panel_labels" / "real.json").read_text())["figures"]


def inside(panel, box) -> float:
    b = panel.box
    ix = max(0.0, min(b.x1, box[2]) - max(b.x0, box[0]))
    iy = max(0.0, min(b.y1, box[3]) - max(b.y0, box[1]))
    return ix * iy / ((b.x1 - b.x0) * (b.y1 - b.y0))


def printed(panels) -> list[str]:
    return [p.printed_label for p in panels if p.label_source is LabelSource.PRINTED]


@pytest.fixture(scope="module")
def real(ocr) -> dict[str, tuple[dict, list]]:
    root = COMPOUND.parent
    out = {}
    for fig in LABELS:
        with Image.open(root / fig["image"]) as img:
            out[fig["image"]] = (fig, ground_panels(img.convert("RGB")))
    return out


@pytest.mark.parametrize("name", [f["image"] for f in LABELS if f["panels"]])
def test_real_lettered_figures_get_their_printed_letters(real, name: str) -> None:
    truth, panels = real[name]
    assert printed(panels) == [p["label"] for p in truth["panels"]]
    boxes = {p["label"]: p["box"] for p in truth["panels"]}
    for p in panels:
        assert p.label == p.printed_label.upper() and p.label_confidence >= 0.7
        assert inside(p, boxes[p.printed_label]) >= 0.7, (p.label, p.box)


@pytest.mark.parametrize("name", [f["image"] for f in LABELS if not f["panels"]])
def test_real_figures_without_panel_letters_claim_none(real, name: str) -> None:
    """Includes residue names (H6, H13), chromosome names (CI, CII) and gene letters A-F in a map."""
    _, panels = real[name]
    assert printed(panels) == []
    assert all(p.label_source is LabelSource.READING_ORDER and p.letter is None for p in panels)


def test_a_lettered_panel_holding_several_regions_is_one_panel(real) -> None:
    # PM27563885 Figure 4: A is a 6 x 2 grid of micrographs, B six bar charts: 2 panels, not 18
    _, panels = real["compound-figures/PM27563885-Figure4-1.png"]
    assert [p.label for p in panels] == ["A", "B"]
