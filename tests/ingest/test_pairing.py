"""The pairing rules between printed panel letters and caption parts (schemas/figure.py)."""

from __future__ import annotations

import pytest

from pipeline.ingest.subcaptions import split_subcaptions
from schemas import Box, Figure, LabelSource, PairOutcome, Panel, PanelSource, SourceFormat

BOX = Box(x0=0, y0=0, x1=1, y1=1)


def panel(label: str, printed: str | None = None, conf: float = 0.95, source: LabelSource | None = None) -> Panel:
    src = source or (LabelSource.PRINTED if printed else LabelSource.READING_ORDER)
    return Panel(label=label, box=BOX, box_norm=BOX, confidence=0.9, source=PanelSource.DETECTED, method="test",
                 printed_label=printed, label_confidence=conf if printed else 0.0, label_source=src)


def figure(caption: str, panels: list[Panel]) -> Figure:
    return Figure(figure_id="a/f1", article_id="a", caption=caption, sub_captions=split_subcaptions(caption),
                  panels=panels, source_format=SourceFormat.JATS, source_path="a.xml")


def test_letters_pair_case_insensitively() -> None:
    fig = figure("Mice. (A) Tumour size. (B) Body weight.", [panel("A", "a"), panel("B", "b")])
    assert fig.sub_caption("A") == "Tumour size."
    assert fig.sub_caption("B") == "Body weight."
    assert fig.grounded


def test_sub_panels_belong_to_their_letter() -> None:
    panels = [panel("A", "A")] + [panel(f"B{k}", f"b{k}") for k in range(1, 5)] + [panel("C", "c")]
    fig = figure("(A) Overview. (B) Four time points of staining. (C) Quantification.", panels)
    assert {fig.sub_caption(f"B{k}") for k in range(1, 5)} == {"Four time points of staining."}
    assert fig.panels[2].letter == "B"
    assert fig.sub_caption("C") == "Quantification."


def test_a_range_covers_every_panel_in_it() -> None:
    fig = figure("(A-C) Sections at 1, 2 and 3 days. (D) Counts.", [panel(k, k) for k in "ABCD"])
    assert [fig.sub_caption(k) for k in "ABC"] == ["Sections at 1, 2 and 3 days."] * 3
    assert fig.sub_caption("D") == "Counts."


def test_unlabelled_panels_never_pair_even_when_counts_agree() -> None:
    # two panels, two caption parts: the reading order would "fit", but it is not evidence
    fig = figure("(A) Blot. (B) Bars.", [panel("A"), panel("B")])
    assert fig.pairing("A").outcome is PairOutcome.UNLABELLED
    assert fig.sub_caption("A") is None and fig.sub_caption("B") is None
    assert not fig.grounded


def test_a_letter_read_without_confidence_does_not_pair() -> None:
    fig = figure("(A) Blot. (B) Bars.", [panel("A", "A", conf=0.4), panel("B", "B")])
    assert fig.pairing("A").outcome is PairOutcome.UNLABELLED
    assert fig.sub_caption("B") == "Bars."


def test_mixed_figure_pairs_only_its_printed_panel() -> None:
    fig = figure("(A) Blot. (B) Bars.", [panel("A", "A"), panel("B")])
    assert fig.sub_caption("A") == "Blot."
    assert fig.pairing("B").outcome is PairOutcome.UNLABELLED


def test_caption_without_parts() -> None:
    fig = figure("Western blots of three cell lines.", [panel("A", "A"), panel("B", "B")])
    assert fig.pairing("A").outcome is PairOutcome.CAPTION_NOT_SPLIT
    assert fig.sub_caption("A") is None


def test_printed_letter_missing_from_the_caption() -> None:
    fig = figure("(A) Blot. (B) Bars.", [panel(k, k) for k in "ABC"])
    assert fig.sub_caption("B") == "Bars."
    pairing = fig.pairing("C")
    assert pairing.outcome is PairOutcome.LETTER_NOT_IN_CAPTION and "C" in pairing.detail


def test_caption_letters_not_in_the_figure_pair_nothing_else() -> None:
    # the caption describes E-H, the figure prints A-D: the letters disagree, nothing pairs
    caption = "(A) x. (B) y. (C) z. (D) w."  # parsed sub-captions A-D ...
    fig = figure(caption, [panel(k, k) for k in "EFGH"])  # ... but E-H are printed
    for k in "EFGH":
        assert fig.pairing(k).outcome is PairOutcome.LETTERS_DISAGREE
        assert fig.sub_caption(k) is None


@pytest.mark.parametrize("printed,written,paired", [("ABCDEF", "ABCD", 4), ("ABC", "AB", 2)])
def test_printed_panels_the_caption_skips_stay_unpaired(printed: str, written: str, paired: int) -> None:
    caption = " ".join(f"({k}) part {k}." for k in written)
    fig = figure(caption, [panel(k, k) for k in printed])
    outcomes = [fig.pairing(k).outcome for k in printed]
    assert outcomes.count(PairOutcome.PAIRED) == paired
    assert outcomes.count(PairOutcome.LETTER_NOT_IN_CAPTION) == len(printed) - paired
    assert all(fig.sub_caption(k) == f"part {k}." for k in written)


def test_caption_letters_missing_from_the_figure_pair_nothing() -> None:
    # the caption has E and F too: their letters were not read, so their panels may sit inside
    # the cells of D or C; no crop of this figure is safe to pair
    fig = figure(" ".join(f"({k}) part {k}." for k in "ABCDEF"), [panel(k, k) for k in "ABCD"])
    assert {fig.pairing(k).outcome for k in "ABCD"} == {PairOutcome.LETTERS_DISAGREE}
    assert "ABCDEF" in fig.pairing("A").detail


def test_supplied_letters_pair_like_printed_ones() -> None:
    fig = figure("(A) Blot. (B) Bars.", [panel(k, k, source=LabelSource.SUPPLIED) for k in "AB"])
    assert fig.sub_caption("B") == "Bars."


def test_no_such_panel() -> None:
    fig = figure("(A) Blot. (B) Bars.", [panel("A", "A")])
    assert fig.pairing("Z").outcome is PairOutcome.UNLABELLED
