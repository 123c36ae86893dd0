"""Panel letters read in stages, nearest the panels' corners first, stopping once the letters are
settled (pipeline/ingest/panel_labels.py `read_labels`, pipeline/ingest/grounding.py `_settled`):
fewer crops go to the recogniser, and the panels come out exactly as when every candidate is read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import pipeline.ingest.panel_labels as panel_labels  # noqa: E402
from bench.panel_synth import make_figure  # noqa: E402
from pipeline.ingest.grounding import ground_panels  # noqa: E402
from pipeline.ingest.panel_labels import STAGE_REACH, corner_distance, stages  # noqa: E402


@pytest.fixture
def crops(monkeypatch) -> list[int]:
    """Crops sent to the recogniser, one entry per call."""
    seen: list[int] = []
    recognise = panel_labels._recognise

    def counted(rec, batch):
        seen.append(len(batch))
        return recognise(rec, batch)

    monkeypatch.setattr(panel_labels, "_recognise", counted)
    return seen


def dump(panels) -> list[dict]:
    """Panels as dicts; recogniser scores as pytest.approx: a crop's score moves with the width of
    the batch it is padded in (PM11906265's "g)": 0.871 in one call, 0.816 read in stages), and a
    stage's batches differ from a single call's. Letters and boxes must be equal."""
    out = []
    for p in panels:
        d = p.model_dump()
        for key in ("confidence", "label_confidence"):
            d[key] = None if d[key] is None else pytest.approx(d[key], abs=0.1)
        out.append(d)
    return out


def both_ways(img: Image.Image, crops: list[int]) -> tuple[list[dict], int, list[dict], int]:
    """(panels, crops) with every candidate read, then with the early exit."""
    full = dump(ground_panels(img, early_exit=False))
    n_full = sum(crops)
    crops.clear()
    early = dump(ground_panels(img, early_exit=True))
    return full, n_full, early, sum(crops)


def test_demo_figure_reads_its_corner_letters_only(ocr, demo_data: Path, crops) -> None:
    with Image.open(demo_data / "demo" / "demo-001" / "demo-001-g1.png") as img:
        full, n_full, early, n_early = both_ways(img.convert("RGB"), crops)
    assert [p["printed_label"] for p in early] == ["A", "B", "C"]
    assert early == full
    assert n_early <= 5 < n_full  # the three letters (and a near-corner mark or two), not the tick labels


@pytest.mark.parametrize("name, letters", [("ctsz-prostate-cancer/afd520e3ff23a23f2c973bbbaa26094e9e50f487.jpg", ["A", "B"]),
                                           ("leptospira-genome/1414-431X-bjmbr-37-04-459-477-g5500i02.jpg", ["A", "B"])])
def test_real_compound_figure_same_letters_from_fewer_crops(ocr, shared_jats: Path, crops, name: str,
                                                            letters: list[str]) -> None:
    with Image.open(shared_jats / name) as img:
        full, n_full, early, n_early = both_ways(img.convert("RGB"), crops)
    assert [p["printed_label"] for p in early if p["printed_label"]] == letters
    assert early == full
    assert n_early <= n_full / 4, (n_early, n_full)


@pytest.mark.parametrize("name, letters", [("PM11906265-Figure3-1.png", list("abcdefg")),
                                           ("PM25595498-Figure1-1.png", list("ABCD"))])
def test_real_panels_of_unequal_size_read_every_candidate(ocr, shared_compound: Path, crops, name: str,
                                                          letters: list[str]) -> None:
    """Letter cells of unequal sizes may hide a second panel (printed without a gutter) whose
    letter is away from every corner: such figures are read in full."""
    with Image.open(shared_compound / name) as img:
        full, n_full, early, n_early = both_ways(img.convert("RGB"), crops)
    assert [p["printed_label"] for p in early if p["printed_label"]] == letters
    assert early == full
    assert n_early == n_full


@pytest.mark.parametrize("name", ["1414-431X-bjmbr-37-04-459-477-g5500i03.jpg", "1414-431X-bjmbr-37-04-459-477-g5500i05.jpg",
                                  "1414-431X-bjmbr-37-04-459-477-g5500i07.jpg"])
def test_real_figure_without_letters_stops_after_the_corners(ocr, shared_jats: Path, crops, name: str) -> None:
    """No letter-like mark near any corner: the marks away from the corners (gene names, tick
    labels, 32 candidates on these maps) are not read, and the figure still claims no letter."""
    with Image.open(shared_jats / "leptospira-genome" / name) as img:
        full, n_full, early, n_early = both_ways(img.convert("RGB"), crops)
    assert not any(p["printed_label"] for p in early)
    assert early == full
    assert n_early <= n_full / 3, (n_early, n_full)


@pytest.mark.parametrize("seed, kind", [(115, None), (181, None), (16, "subpanels"), (4, None), (59, None), (213, None),
                                        (9, None), (21, None), (3, "none"), (5, "numbers"), (7, "nonlatin")])
def test_letters_away_from_corners_are_still_read(ocr, crops, seed: int, kind: str | None) -> None:
    """Sub-panels b1-b4 whose letters sit inside one XY-cut panel (seeds 115 and 181 lost b2-b4 to
    earlier versions that stopped once every XY-cut panel had one letter), letters inside the
    images (4, 59; 213 lost "C", printed inside a panel that touches B's: one XY-cut panel),
    letters below the panels (9), white letters on black paper (21), and figures that claim no
    letter: none printed, numbers, Greek/Cyrillic."""
    img, _ = make_figure(seed, kind)
    full, _, early, _ = both_ways(img, crops)
    assert early == full


def test_candidates_are_staged_by_distance_from_a_region_corner() -> None:
    regions = [(0, 0, 100, 100), (0, 120, 100, 220)]  # (y0, x0, y1, x1)
    at_corner = (2, 3, 12, 10)  # 10 high: 0.3 heights from (0, 0)
    beside = (0, 95, 10, 102)  # 2.5 heights left of the second region's corner
    inside = (50, 60, 60, 66)  # 5-6 heights from every corner
    far = (85, 150, 95, 160)  # a tick label low in the second region
    big = (0, 0, 40, 30)  # 40 high: no region is three of its heights on both sides
    dist = corner_distance([at_corner, beside, inside, far, big], regions)
    assert dist[0] <= STAGE_REACH[0] < dist[1] <= STAGE_REACH[1] < dist[2] <= STAGE_REACH[2] < dist[3]
    assert dist[4] == float("inf")
    assert stages([far, inside, beside, big, at_corner], regions) == [[at_corner], [beside], [inside], [far, big]]
    assert stages([far], []) == [[], [], [], [far]]
