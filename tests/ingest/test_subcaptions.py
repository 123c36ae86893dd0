"""Sub-caption splitting (pipeline/ingest/subcaptions.py)."""

from __future__ import annotations

import pytest

from pipeline.ingest.subcaptions import split_subcaptions


def pairs(text: str, strong=()) -> list[tuple[str, str]]:
    return [(s.label, s.text) for s in split_subcaptions(text, strong)]


def test_parenthesised_letters():
    assert pairs("Overview of the assay. (A) Western blot of lysates. (B) Quantification of (A). (C) Model.") == [
        ("A", "Western blot of lysates."), ("B", "Quantification of (A)."), ("C", "Model.")]


def test_lowercase_letters_are_normalised():
    assert pairs("Growth curves. (a) Wild type; (b) mutant; (c) rescue.") == [
        ("A", "Wild type"), ("B", "mutant"), ("C", "rescue.")]


def test_comma_and_period_styles():
    assert pairs("A, Heat map of expression. B, Expression in cells. C, expression in tumours.") == [
        ("A", "Heat map of expression."), ("B", "Expression in cells."), ("C", "expression in tumours.")]
    assert pairs("A. Control sections. B. Treated sections.") == [("A", "Control sections."), ("B", "Treated sections.")]


def test_half_parenthesis_style():
    assert pairs("Title. a) first panel; b) second panel") == [("A", "first panel"), ("B", "second panel")]


@pytest.mark.parametrize("text,expected", [
    ("(A–C) Liver sections at three doses. (D) Kidney.", ["A", "B", "C", "D"]),
    ("(A-C) Liver sections. (D) Kidney.", ["A", "B", "C", "D"]),
    ("(A and B) Images of cells. (C) Counts.", ["A", "B", "C"]),
    ("(A, B) Images of cells. (C) Counts.", ["A", "B", "C"]),
    ("(a–c) Three tissues.", ["A", "B", "C"]),
])
def test_ranges_apply_to_every_covered_panel(text, expected):
    subs = split_subcaptions(text)
    assert [s.label for s in subs] == expected
    assert subs[0].text == subs[1].text  # the shared text applies to each panel of the range


@pytest.mark.parametrize("text", [
    "Growth of A. fumigatus in liquid medium over 48 hours.",
    "Treatment produced a 5-fold increase in signal.",
    "The mutant showed (a) weak binding and (b) no activity at all.",
    "Levels of vitamin A. Samples were taken weekly.",
    "Only one panel is labelled here. (A) Overview.",
    "(B) Starts at B. (C) Then C.",
    "(A) First. (A) Again first.",
    "Letters out of order. (C) One. (A) Two.",
])
def test_false_positives_are_not_split(text):
    assert split_subcaptions(text) == []


def test_back_reference_inside_a_sub_caption_is_text():
    subs = pairs("(A) Raw signal. (B) Signal normalised to (A). (C) Fit.")
    assert [label for label, _ in subs] == ["A", "B", "C"] and subs[1][1] == "Signal normalised to (A)."


def test_bold_markers_allow_lowercase_text():
    text = "Phylogeny of strains. A, based on 34 taxa; B, based on 24 taxa."
    assert pairs(text) == []  # "A, based" alone is too weak to start a split
    strong = [text.index("A, based"), text.index("B, based")]
    assert pairs(text, strong) == [("A", "based on 34 taxa"), ("B", "based on 24 taxa.")]


def test_unsplit_caption_gives_nothing():
    assert split_subcaptions("") == [] and split_subcaptions("A plain caption without panels.") == []
