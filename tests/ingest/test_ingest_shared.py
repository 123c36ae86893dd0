"""Ingest the real articles in ../shared/data (JATS with images, PMC .nxml text-only); the module skips
once, with a reason, when they are absent. Our own samples: test_ingest_demo.py, test_ingest_formats.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from shared_data import require_shared

from pipeline.ingest import IngestConfig, run_ingest
from pipeline.io.parquet import read_all
from schemas import Article, Figure, PanelSource, Reject

require_shared("jats", module=True)
require_shared("nxml", module=True)

NXML_COUNTS = {"1471-2180-11-174": 4, "1472-6831-8-11": 0, "6605965a": 0, "mds526": 2, "pntd.0002065": 1, "pone.0000217": 3}
JATS_COUNTS = {"ctsz-prostate-cancer": 2, "leptospira-genome": 7}


@pytest.fixture(scope="module")
def jats_out(shared_jats: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jats_out")
    run_ingest(shared_jats, out, IngestConfig())
    return out


@pytest.fixture(scope="module")
def nxml_out(shared_nxml: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nxml_out")
    run_ingest(shared_nxml, out, IngestConfig())
    return out


def _by_source(figures: list[Figure]) -> dict[str, list[Figure]]:
    out: dict[str, list[Figure]] = {}
    for f in figures:
        out.setdefault(f.source_path, []).append(f)
    return out


def test_nxml_figure_counts_exact(nxml_out: Path):
    figures = read_all(nxml_out / "figures", Figure)
    articles = read_all(nxml_out / "articles", Article)
    assert len(articles) == len(NXML_COUNTS)
    counts = {Path(a.source_path).stem: len(a.figure_ids) for a in articles}
    assert counts == NXML_COUNTS
    assert len(figures) == sum(NXML_COUNTS.values())


def test_nxml_text_only_figures_are_flagged_not_rejected(nxml_out: Path):
    figures = read_all(nxml_out / "figures", Figure)
    assert figures and all(not f.has_image and f.image_path is None and f.panels == [] for f in figures)
    assert all(not a.has_images for a in read_all(nxml_out / "articles", Article))
    assert read_all(nxml_out / "rejects" / "ingest", Reject) == []


def test_nxml_captions_and_mentions(nxml_out: Path):
    figures = read_all(nxml_out / "figures", Figure)
    assert all(len(f.caption) > 20 for f in figures)
    # every figure in these articles is cited through <xref ref-type="fig">
    assert all(f.mentions for f in figures), [f.figure_id for f in figures if not f.mentions]
    f3 = next(f for f in figures if f.figure_id.endswith("/F3") and "PMC3166277" in f.figure_id)
    assert [s.label for s in f3.sub_captions] == ["A", "B", "C", "D"]
    assert any("3A" in m or "Figure 3" in m for m in f3.mentions)


def test_nxml_metadata(nxml_out: Path):
    articles = {Path(a.source_path).stem: a for a in read_all(nxml_out / "articles", Article)}
    a = articles["1471-2180-11-174"]
    assert a.pmcid == "PMC3166277" and a.article_id == "PMC3166277"
    assert a.license == "http://creativecommons.org/licenses/by/2.0"
    assert a.title and a.abstract and len(a.abstract) > 200


def test_jats_figure_counts_exact(jats_out: Path):
    per_dir: dict[str, int] = {}
    for a in read_all(jats_out / "articles", Article):
        per_dir[a.source_path.split("/")[0]] = len(a.figure_ids)
    assert per_dir == JATS_COUNTS
    figures = read_all(jats_out / "figures", Figure)
    assert len(figures) == 9
    assert all(f.has_image and f.image_sha256 and f.width and f.height for f in figures)
    assert read_all(jats_out / "rejects" / "ingest", Reject) == []


def test_prostate_cancer_figures_use_full_size_renditions(jats_out: Path, shared_jats: Path):
    figures = {f.figure_id.split("/")[-1]: f for f in read_all(jats_out / "figures", Figure) if "1414-431X2021e11439" in f.figure_id}
    assert set(figures) == {"f01", "f02"}
    folder = shared_jats / "ctsz-prostate-cancer"
    assert Path(figures["f01"].image_path) == (folder / "fd89fb6a2a0f973016f2de7ee2b64b51ca573999.jpg").resolve()
    assert Path(figures["f02"].image_path) == (folder / "afd520e3ff23a23f2c973bbbaa26094e9e50f487.jpg").resolve()
    for f in figures.values():
        with Image.open(f.image_path) as im:
            assert (f.width, f.height) == im.size
        assert f.width > 500  # the thumbnails are 267 px wide


def test_prostate_cancer_subcaptions_and_mentions(jats_out: Path):
    figures = {f.figure_id.split("/")[-1]: f for f in read_all(jats_out / "figures", Figure) if "1414-431X2021e11439" in f.figure_id}
    f1, f2 = figures["f01"], figures["f02"]
    assert [s.label for s in f1.sub_captions] == ["A", "B", "C"]
    assert f1.sub_caption("A").startswith("Heat map of CTSZ mRNA expression")
    assert f1.sub_caption("B").startswith("CTSZ mRNA expression in different human immune cells")
    assert [s.label for s in f2.sub_captions] == ["A", "B"]
    assert f2.sub_caption("B").startswith("Receiver operating characteristic")
    assert f1.caption.startswith("Bioinformatics data of cathepsin Z")
    assert any("ROC curve analysis" in m for m in f2.mentions)
    assert f1.license == "https://creativecommons.org/licenses/by/4.0/"


def test_leptospira_mentions_and_panels(jats_out: Path):
    figures = {f.figure_id.split("/")[-1]: f for f in read_all(jats_out / "figures", Figure) if "S0100-879X2004000400003" in f.figure_id}
    assert sorted(figures) == [f"fig{i}" for i in range(1, 8)]
    assert all(f.mentions for f in figures.values())
    assert len(figures["fig5"].mentions) == 3
    # caption text must not leak the trailing "Figure 2. ..." text that follows the graphic
    assert [s.label for s in figures["fig2"].sub_captions] == ["A", "B"]
    for f in figures.values():
        assert f.panels, f.figure_id
        for p in f.panels:
            assert 0 <= p.box.x0 < p.box.x1 <= f.width and 0 <= p.box.y0 < p.box.y1 <= f.height
        if len(f.panels) == 1:
            assert f.panels[0].source == PanelSource.WHOLE
