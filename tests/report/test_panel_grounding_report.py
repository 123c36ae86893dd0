"""stats.json and report.html show how many compound figures are grounded on printed letters and
the pairing outcome of every panel; the gallery draws each printed label as printed."""

from __future__ import annotations

from pathlib import Path

from pipeline.io.parquet import write_rows
from pipeline.report import write_report
from pipeline.report.gallery import shown_label
from pipeline.report.stats import compute_stats
from schemas import Box, Figure, LabelSource, Panel, PanelSource, SourceFormat, SubCaption

from .dataset import write_marker

BOX = Box(x0=0, y0=0, x1=1, y1=1)


def _panel(label: str, printed: str | None) -> Panel:
    extra = {"printed_label": printed, "label_confidence": 0.98, "label_source": LabelSource.PRINTED} if printed else {}
    return Panel(label=label, box=BOX, box_norm=BOX, confidence=0.9, source=PanelSource.DETECTED, method="t", **extra)


def _figures(out: Path) -> None:
    subs = [SubCaption(label="A", text="Blot."), SubCaption(label="B", text="Bars.")]
    figs = [
        Figure(figure_id="P1/f1", article_id="P1", caption="(A) Blot. (B) Bars.", sub_captions=subs,
               panels=[_panel("A", "a"), _panel("B", "b")], source_format=SourceFormat.JATS, source_path="x"),
        Figure(figure_id="P1/f2", article_id="P1", caption="(A) Blot. (B) Bars.", sub_captions=subs,
               panels=[_panel("A", None), _panel("B", None), _panel("C", None)], source_format=SourceFormat.JATS,
               source_path="x"),
        Figure(figure_id="P1/f3", article_id="P1", caption="One image.", panels=[_panel("A", None)],
               source_format=SourceFormat.JATS, source_path="x"),
    ]
    write_rows(out / "figures" / "part-00000.parquet", figs, Figure)


def test_stats_count_grounded_figures_and_pairing_outcomes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_marker(out)
    _figures(out)
    st = compute_stats(out).panels
    assert (st.figures, st.compound_figures, st.grounded_figures, st.grounded_share) == (3, 2, 1, 0.5)
    assert st.pairing_by_outcome == {"paired": 2, "unlabelled-panel": 3}
    assert st.panels_by_label_source == {"printed": 2, "reading_order": 3}
    page = write_report(out).read_text()
    assert "1 of 2 compound figures (50.0%)" in page
    assert "unlabelled-panel" in page and 'id="panels"' in page


def test_gallery_draws_printed_labels_as_printed() -> None:
    assert shown_label(_panel("B1", "b1")) == "b1"
    assert shown_label(_panel("C", None)) == "C?"
