"""data/formats: one sample per input format besides JATS XML (nxml, LLaVA-Med JSON and JSONL,
M3LLM JSON with YOLO boxes and a confidence CSV), each giving the figures we designed it to have."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest import IngestConfig, run_ingest
from pipeline.io.parquet import read_all
from schemas import Article, Figure, PanelSource, Reject, SourceFormat

# figure id -> (format, panel count, panel source, sub-caption labels, mentions)
EXPECTED = {
    "PMC900101/F1": (SourceFormat.JATS, 3, PanelSource.DETECTED, ["A", "B", "C"], 2),
    "PMC900101/F2": (SourceFormat.JATS, 4, PanelSource.DETECTED, ["A", "B", "C", "D"], 2),
    "PMC900121/figure-1": (SourceFormat.M3LLM, 4, PanelSource.SUPPLIED, ["A", "B", "C", "D"], 2),
    "PMC900121/figure-2": (SourceFormat.M3LLM, 2, PanelSource.DETECTED, ["A", "B"], 1),
    "PMID900111/f1": (SourceFormat.LLAVA_MED, 2, PanelSource.DETECTED, ["A", "B"], 2),
    "PMID900111/f2": (SourceFormat.LLAVA_MED, 1, PanelSource.WHOLE, [], 1),
    "PMID900112/f3": (SourceFormat.LLAVA_MED, 2, PanelSource.DETECTED, ["A", "B"], 1),
}


@pytest.fixture(scope="module")
def formats_out(formats_data: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("formats") / "out"
    run_ingest(formats_data, out, IngestConfig())
    return out


def test_every_format_gives_its_figures(formats_out: Path):
    figures = {f.figure_id: f for f in read_all(formats_out / "figures", Figure)}
    assert sorted(figures) == sorted(EXPECTED)
    for fid, (fmt, n_panels, source, subs, mentions) in EXPECTED.items():
        f = figures[fid]
        assert f.source_format == fmt and f.has_image, fid
        assert len(f.panels) == n_panels and {p.source for p in f.panels} == {source}, fid
        assert [p.label for p in f.panels] == [chr(65 + i) for i in range(n_panels)], fid
        assert [s.label for s in f.sub_captions] == subs, fid
        assert len(f.mentions) == mentions, fid
        assert f.license == "https://creativecommons.org/licenses/by/4.0/", fid
    assert read_all(formats_out / "rejects" / "ingest", Reject) == []


def test_yolo_boxes_keep_the_confident_sub_figures(formats_out: Path):
    """Four panel boxes plus a spurious fifth one that the confidence CSV scores 0.22 (< 0.7)."""
    fig = next(f for f in read_all(formats_out / "figures", Figure) if f.figure_id == "PMC900121/figure-1")
    assert [round(p.confidence, 2) for p in fig.panels] == [0.97, 0.95, 0.93, 0.91]
    a, b, c, d = (p.box for p in fig.panels)
    assert a.x1 <= b.x0 and a.y1 <= c.y0 and c.x1 <= d.x0  # a 2x2 grid, read row by row
    assert all(p.box.x1 - p.box.x0 > 0.4 * fig.width for p in fig.panels)  # not the letter-sized box
    assert fig.sub_captions[0].text.startswith("Cell count over 48 hours")


def test_bold_letters_and_metadata_of_the_nxml_article(formats_out: Path):
    figures = {f.figure_id: f for f in read_all(formats_out / "figures", Figure)}
    f1 = figures["PMC900101/F1"]
    assert [s.text for s in f1.sub_captions] == ["mean closure at day 0 and day 7",
                                                 "closure over 48 hours in two invented cohorts",
                                                 "closure by simulated dose."]
    assert f1.image_path.endswith("demo-101-g001.png")  # href without extension
    articles = {a.article_id: a for a in read_all(formats_out / "articles", Article)}
    assert articles["PMC900101"].doi == "10.0000/demo.900101"
    assert articles["PMID900111"].figure_ids == ["PMID900111/f1", "PMID900111/f2"]


def test_formats_sample_is_small(formats_data: Path):
    files = [p for p in formats_data.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 300_000
    assert {p.suffix for p in files} >= {".nxml", ".json", ".jsonl", ".png", ".jpg", ".txt", ".csv"}
