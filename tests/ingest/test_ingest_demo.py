"""The demo sample in data/demo: counts, panels, sub-captions and mentions we designed it to have."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest import IngestConfig, run_ingest
from pipeline.io.parquet import read_all
from schemas import Article, Figure, PanelSource, Reject

# figure id -> (has image, detected panel count, sub-caption labels)
EXPECTED = {
    "PMC900001/f1": (True, 3, ["A", "B", "C"]),
    "PMC900001/f2": (True, 1, []),
    "PMC900002/f1": (True, 2, ["A", "B"]),
    "PMC900002/f2": (True, 4, ["A", "B", "C", "D"]),
    "PMC900003/f1": (True, 1, []),
    "PMC900003/f2": (True, 3, ["A", "B", "C"]),
    "PMC900003/f3": (True, 1, []),
    "PMC900004/f1": (False, 0, ["A", "B"]),
}


@pytest.fixture(scope="module")
def demo_out(demo_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo_out")
    run_ingest(demo_data / "demo", out, IngestConfig())
    return out


def test_demo_sample_is_small_and_licensed(demo_data: Path):
    files = [p for p in (demo_data / "demo").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 1_500_000
    assert sum(p.suffix == ".xml" for p in files) == 4


def test_demo_figures(demo_out: Path):
    figures = {f.figure_id: f for f in read_all(demo_out / "figures", Figure)}
    assert list(figures) == list(EXPECTED)
    for fid, (has_image, n_panels, subs) in EXPECTED.items():
        f = figures[fid]
        assert f.has_image == has_image, fid
        assert len(f.panels) == n_panels, fid
        assert [s.label for s in f.sub_captions] == subs, fid
        assert f.mentions, fid
        assert f.license == "https://creativecommons.org/licenses/by/4.0/"
        if n_panels == 1:
            assert f.panels[0].source == PanelSource.WHOLE
        elif n_panels > 1:
            assert {p.source for p in f.panels} == {PanelSource.DETECTED}
    assert read_all(demo_out / "rejects" / "ingest", Reject) == []


def test_demo_full_size_rendition_and_ranges(demo_out: Path):
    figures = {f.figure_id: f for f in read_all(demo_out / "figures", Figure)}
    assert figures["PMC900001/f1"].image_path.endswith("demo-001-g1.png")  # not the -thumb rendition
    assert figures["PMC900001/f2"].image_path.endswith("demo-001-g2.png")  # href without extension
    range_para = "Uptake kinetics were similar across runs (Figures 1–2)."
    assert range_para in figures["PMC900001/f1"].mentions and range_para in figures["PMC900001/f2"].mentions
    multi = "Texture and histology agreed in all simulated animals (Figures 1 and 2)."
    assert multi in figures["PMC900002/f1"].mentions and multi in figures["PMC900002/f2"].mentions
    figs_range = [m for m in figures["PMC900003/f2"].mentions if "Figs 1-3" in m]
    assert figs_range and figs_range[0] in figures["PMC900003/f3"].mentions


def test_demo_caption_only_article(demo_out: Path):
    articles = {a.article_id: a for a in read_all(demo_out / "articles", Article)}
    assert not articles["PMC900004"].has_images and articles["PMC900001"].has_images
    assert len(articles) == 4
