"""Metric functions against values worked out by hand."""

from __future__ import annotations

import pytest

from pipeline.evaluate.compare import compare, score_predictions
from pipeline.evaluate.metrics import (
    accuracy,
    closed_answer,
    exact_match,
    normalize,
    parse_mcq_letter,
    parse_mcq_options,
    parse_relation,
    relation_axes_matched,
    rouge_l,
    token_f1,
)
from pipeline.evaluate.predict import Prediction
from pipeline.train.data import Sample


def test_normalize_keeps_panel_letter_and_strips_grounding():
    assert normalize("The  Panel A, shown in <ref>red</ref><box>[[1, 2, 3, 4]]</box>!") == "panel a shown in red"


def test_token_f1_hand_values():
    # pred {panel, a, red}, ref {panel, a, is, blue}: 2 shared, P = 2/3, R = 2/4 -> F1 = 4/7
    assert token_f1("Panel A red", "panel A is blue") == pytest.approx(4 / 7)
    # multiset overlap: "red red" vs "red" shares one token: P = 1/2, R = 1 -> 2/3
    assert token_f1("red red", "red") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0
    assert token_f1("something", "") == 0.0
    assert token_f1("green", "blue") == 0.0


def test_rouge_l_hand_values():
    # LCS of [w x y z] and [w y z q] is [w y z] = 3: P = 3/4, R = 3/4 -> 0.75
    assert rouge_l("w x y z", "w y z q") == pytest.approx(0.75)
    # LCS([x y], [y x w]) = 1: P = 1/2, R = 1/3 -> 2*(1/6)/(5/6) = 0.4
    assert rouge_l("x y", "y x w") == pytest.approx(0.4)
    assert rouge_l("The cell", "the cell") == 1.0
    assert rouge_l("abc", "def") == 0.0


def test_exact_match_and_closed_answers():
    assert exact_match("Yes.", "yes") == 1.0 and exact_match("yes it is", "yes") == 0.0
    assert closed_answer("No, there is none.") == "no" and closed_answer("Maybe") is None


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("B. the blue panel", "B"),
        ("(c) because", "C"),
        ("D) last", "D"),
        ("The answer is A.", "A"),
        ("Option: C", "C"),
        ("I pick the green panel", "B"),  # quotes exactly one option's text
        ("Both red panel and green panel", None),  # ambiguous
        ("no idea", None),
    ],
)
def test_mcq_letter_parsing(text, letter):
    options = ["red panel", "green panel", "blue panel", "grey panel"]
    assert parse_mcq_letter(text, options) == letter


def test_mcq_letter_from_the_exporters_image_options():
    options = ["Image-1", "Image-2", "Image-3", "Image-4"]
    assert parse_mcq_letter("B. Image-2", options) == "B"
    assert parse_mcq_letter("It is shown in Image-3.", options) == "C"


def test_mcq_options_from_question():
    q = "Which panel?\nA. red panel\nB. green panel\nC) blue panel\nD. grey panel"
    assert parse_mcq_options(q) == ["red panel", "green panel", "blue panel", "grey panel"]


@pytest.mark.parametrize(
    ("text", "relation"),
    [
        # the generator's own sentences (pipeline.geometry.Relation.describe)
        ("Panel B is above Panel C, in the same column.", "same_column,above"),
        ("Panel D is below and to the right of Panel A.", "right_of,below"),
        ("Panel B is to the right of Panel A, in the same row.", "right_of,same_row"),
        ("Panel A and Panel B occupy the same position.", "same_column,same_row"),
        # other wording
        ("<ref>panel A</ref><box>[[31, 250, 468, 750]]</box> is left of panel B.", "left_of,?"),
        ("It is above panel D, not below it.", "?,above"),
        ("B sits beneath A", "?,below"),
        ("A sits on the left, B on the right", "left_of,?"),  # loose wording, first side named
        ("The upper panel is A", "?,above"),
        ("They are vertically aligned", "same_column,?"),
        ("panels overlap", None),
    ],
)
def test_relation_parsing(text, relation):
    assert parse_relation(text) == relation


def test_relation_scoring_compares_the_axes_the_reference_states():
    assert relation_axes_matched("right_of,below", "right_of,below") == (2, 2)
    assert relation_axes_matched("right_of,above", "right_of,below") == (1, 2)
    assert relation_axes_matched("left_of,?", "left_of,?") == (1, 1)  # reference states one axis
    assert relation_axes_matched(None, "same_column,above") == (0, 2)
    assert relation_axes_matched("left_of,above", None) == (0, 0)


def test_accuracy_ignores_unknown_references_and_counts_unparsed_as_wrong():
    assert accuracy(["A", None, "C", "D"], ["A", "B", "B", None]) == pytest.approx(1 / 3)
    assert accuracy([], []) == 0.0


def _sample(task, sid, question, answer):
    return Sample(id=sid, task=task, images=[], turns=[("human", question), ("gpt", answer)], split="eval")


def test_scores_per_task_and_comparison_deltas():
    samples = [
        _sample("mcq_selection", "m1", "Q\nA. red\nB. blue\nC. green\nD. grey", "B. blue"),
        _sample("mcq_selection", "m2", "Q\nA. red\nB. blue\nC. green\nD. grey", "D"),
        _sample("bbox_qa", "b1", "where?", "<ref>A</ref><box>[[1, 1, 2, 2]]</box> is above B, in the same column."),
        _sample("bbox_qa", "b2", "where?", "A is below and to the left of B."),
        _sample("text_qa", "t1", "what?", "yes, it is red"),
    ]

    def preds(mcq1, mcq2, box1, box2, text):
        return [Prediction(s.id, s.task, p, s.reference, "") for s, p in zip(samples, [mcq1, mcq2, box1, box2, text])]

    base = score_predictions(preds("A", "grey", "left of B", "below and left of B", "no"), samples)
    tuned = score_predictions(preds("B", "D. grey", "It is above B in the same column", "A is below B", "yes it is red"),
                              samples)
    assert base["mcq_selection"]["mcq_accuracy"] == pytest.approx(0.5)  # "grey" quotes option D
    assert tuned["mcq_selection"]["mcq_accuracy"] == 1.0
    # base: b1 wrong on both axes (0/2), b2 right (2/2); tuned: b1 right (2/2), b2 vertical only (1/2)
    assert base["bbox_qa"]["relation_accuracy"] == 0.5 and tuned["bbox_qa"]["relation_accuracy"] == 0.5
    assert base["bbox_qa"]["relation_axis_accuracy"] == 0.5 and tuned["bbox_qa"]["relation_axis_accuracy"] == 0.75
    assert tuned["text_qa"]["token_f1"] == 1.0 and tuned["text_qa"]["closed_accuracy"] == 1.0
    assert base["text_qa"]["closed_accuracy"] == 0.0
    result = compare({"base": base, "finetuned": tuned}, baseline="base")
    row = result["tasks"]["mcq_selection"]["mcq_accuracy"]
    assert row == {"base": 0.5, "finetuned": 1.0, "delta:finetuned": 0.5}
    assert result["tasks"]["bbox_qa"]["n"] == {"base": 2.0, "finetuned": 2.0}
