"""Rendering without a browser: escaping, partial builds, unreadable tables, the gallery cap and the
box drawing on thumbnails."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from pipeline.report import write_report
from pipeline.report.gallery import select
from pipeline.report.thumbs import HIGHLIGHT_COLOUR, PANEL_COLOUR, norm_box, thumbnail
from schemas import Box

from .dataset import HOSTILE, build_dataset
from .test_report_metrics import qa


@pytest.fixture(scope="module")
def full_out(tmp_path_factory):
    return build_dataset(tmp_path_factory.mktemp("render") / "out")


def test_text_is_escaped(full_out):
    page = write_report(full_out).read_text()
    assert HOSTILE not in page
    assert html.escape(HOSTILE, quote=False) in page.replace("&#34;", '"')
    assert "<script" not in page


def test_page_is_self_contained(full_out):
    page = write_report(full_out).read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") for h in hrefs)  # only in-page links
    assert "<link" not in page and "url(" not in page and "@import" not in page


def test_gallery_cap_and_size(full_out):
    page = write_report(full_out, max_examples_per_task=1).read_text()
    assert page.count('class="card"') == 3  # one per task
    page = write_report(full_out, max_examples_per_task=0).read_text()
    assert page.count('class="card"') == 0
    assert (full_out / "report.html").stat().st_size < 200_000


def test_stage1_build_renders_not_built_notes(tmp_path):
    page = write_report(build_dataset(tmp_path / "out", stages=1)).read_text()
    for section in ("counts", "tasks", "rejects", "leakage", "mcq-letters", "lengths", "modalities", "gallery"):
        assert f'id="{section}"' in page
    assert "not built yet: no deleaked/&lt;task&gt;/ table (stage 5 has not run)" in page
    assert "not built yet: no qa/, deleaked/ or final/ task tables" in page
    assert "not built yet: knowledge/ has no Parquet shards" in page
    assert 'alt="modality distribution"' in page  # stage 1 is built, so its chart is there


def test_empty_folder_and_unreadable_table(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    page = write_report(empty).read_text()
    assert "not built yet: figures/ has no Parquet shards" in page
    assert "no layout marker" in page
    broken = build_dataset(tmp_path / "broken", stages=1)
    (broken / "summaries" / "part-00000.parquet").write_bytes(b"not parquet at all")
    page = write_report(broken).read_text()
    assert "could not read summaries/" in page
    # an unreadable rejects shard also breaks pipeline.report.stats: its sections say so, the rest renders
    (broken / "rejects" / "ingest" / "part-00000.parquet").write_bytes(b"not parquet either")
    page = write_report(broken).read_text()
    assert "could not read rejects/ingest/" in page
    assert "reject statistics unavailable" in page
    assert 'alt="modality distribution"' not in page and 'id="gallery"' in page


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "absent")


def test_gallery_prefers_distinct_and_unshown_figures():
    rows = [qa(qa_id=f"t/{fig}/{n}") for fig, n in [("f1", 0), ("f1", 1), ("f1", 2), ("f2", 0), ("f3", 0)]]
    rows = [r.model_copy(update={"figure_id": r.qa_id.split("/")[1]}) for r in rows]
    two = select(rows, 3)
    assert sorted(r.figure_id for r in two) == ["f1", "f2", "f3"]  # one per figure before repeats
    assert [r.qa_id for r in two] == sorted(r.qa_id for r in two)  # shown in id order
    assert len({r.qa_id for r in select(rows, 5)}) == 5 and select(rows, 0) == []
    shown = {"f1", "f2"}
    assert [r.qa_id for r in select(rows, 1, shown)] == ["t/f3/0"]  # a figure no earlier task showed
    assert shown == {"f1", "f2", "f3"}
    assert select(rows, 2) == select(list(reversed(rows)), 2)  # stable, whatever the input order


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def _close(pixel, colour, tol=60) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour, strict=True))


def test_thumbnail_draws_panels_and_highlights(tmp_path):
    path = tmp_path / "white.png"
    Image.new("RGB", (1000, 500), "white").save(path)
    panel = ("A", Box(x0=0.1, y0=0.1, x1=0.4, y1=0.9))
    hl = ("B", Box(x0=0.6, y0=0.1, x1=0.9, y1=0.9))
    img = _decode(thumbnail(path, [panel], [hl], max_side=400))
    assert img.size == (400, 200)
    # left edges at x = 0.1 * 400 and 0.6 * 400, sampled half way down (below the label tag)
    assert _close(img.getpixel((41, 120)), PANEL_COLOUR)
    assert _close(img.getpixel((241, 120)), HIGHLIGHT_COLOUR)
    assert _close(img.getpixel((120, 120)), (255, 255, 255))  # inside a box: untouched


def test_pixel_boxes_are_normalised():
    assert norm_box(Box(x0=100, y0=50, x1=300, y1=150), 400, 200) == Box(x0=0.25, y0=0.25, x1=0.75, y1=0.75)
    box = Box(x0=0.1, y0=0.2, x1=0.3, y1=0.4)
    assert norm_box(box, 400, 200) == box


def test_library_does_not_import_prefect(tmp_path):
    # The build flow calls write_report as a task; the library itself must stay Prefect-free.
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from pipeline.report import write_report; "
            f"write_report(Path({str(tmp_path)!r})); print('prefect' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_gallery_card_images(full_out):
    from pipeline.report.gallery import example
    from pipeline.report.load import load_report_data

    data = load_report_data(full_out)
    figures = {f.figure_id: f for f in data.figures.rows_where("figure_id", ["PMC1/f1"])}
    fig = figures["PMC1/f1"]
    crop = str(full_out / "crops" / "PMC1_f1_B.png")
    row = qa(qa_id="single_panel_qa/PMC1/f1/0").model_copy(
        update={"figure_id": fig.figure_id, "image_paths": [crop], "panel_labels": ["B"]})
    # a crop of a highlighted panel is not repeated: one image, with a note
    card = example(row, fig, full_out)
    assert [i.uri is not None for i in card.images] == [True]
    assert "model input: 1 panel crop(s), highlighted on the figure" in card.images[0].caption
    # without the figure the crop is what the card shows
    card = example(row, None, full_out)
    assert len(card.images) == 1 and card.images[0].uri and card.images[0].caption == "<image> 1"
    # a missing image file becomes an explanation, not a broken <img>
    gone = fig.model_copy(update={"image_path": str(full_out / "nowhere.png")})
    card = example(row.model_copy(update={"image_paths": []}), gone, full_out)
    assert card.images[0].uri is None and "does not exist" in card.images[0].error


def test_keep_rate_is_the_headline_next_to_the_model(full_out):
    from pipeline.report.stats import compute_stats

    stats = compute_stats(full_out)
    page = write_report(full_out).read_text()
    headline = re.search(r'<p class="headline" id="keep-rate">(.*?)</p>', page, re.S).group(1)
    assert f"Kept <strong>{stats.total_final}</strong> of {stats.total_generated}" in headline
    assert f"{100 * stats.keep_rate:.1f}%" in headline and "SmolLM2-135M-Instruct" in headline
    assert stats.keep_rate == round(stats.total_final / stats.total_generated, 4)
    dropped = {t.task: t.rejected_by_gate for t in stats.tasks}
    assert any(dropped.values())  # the fixture's gate rejects are counted per task and gate


def test_sections_read_columns_and_parse_only_the_gallery_rows(full_out, monkeypatch):
    """The report never parses a whole QA table: the gallery picks rows from (qa_id, figure_id)
    columns, and the picks equal those `select` makes over every parsed row."""
    from pipeline.io.parquet import read_all
    from pipeline.report import sections
    from pipeline.report.load import load_report_data
    from schemas import QARow

    data = load_report_data(full_out)
    shown: set[str] = set()
    expected = {}
    for task in data.tasks:
        table = data.latest_qa(task)
        expected[task] = [r.qa_id for r in select(read_all(full_out / table.name, QARow), 2, shown)]
    parsed = []
    original = QARow.model_validate.__func__

    def counting(cls, obj, *args, **kwargs):
        parsed.append(obj)
        return original(cls, obj, *args, **kwargs)

    monkeypatch.setattr(QARow, "model_validate", classmethod(counting))
    cards = sections.gallery(load_report_data(full_out), 2)
    assert {c["task"]: [e.row.qa_id for e in c["examples"]] for c in cards} == expected
    assert len(parsed) == sum(len(ids) for ids in expected.values())
    assert sum(len(data.latest_qa(t)) for t in data.tasks) > len(parsed)  # there were rows not parsed


def test_a_shard_of_another_schema_version_is_reported_unreadable(tmp_path):
    import pyarrow.parquet as pq

    from schemas.arrow import METADATA_VERSION_KEY

    out = build_dataset(tmp_path / "out", stages=1)
    shard = out / "summaries" / "part-00000.parquet"
    table = pq.read_table(shard)
    meta = dict(table.schema.metadata)
    meta[METADATA_VERSION_KEY] = b"0-old"
    pq.write_table(table.replace_schema_metadata(meta), shard)
    page = write_report(out).read_text()
    assert "could not read summaries/" in page and "0-old" in page
