"""Panel-level generators pair a crop with a sub-caption only by its printed letter, and name
panels by letter only when the letter is printed (or supplied): never by reading-order guesses."""

from __future__ import annotations

from pathlib import Path

from qa_upstream import hand_result, run_by_hand

from pipeline.generators import GenerationConfig, get_generator
from pipeline.generators.single_panel_qa import WHOLE_CAPTION
from pipeline.io.parquet import read_rows
from schemas import Figure, RejectReason

GOOD_QA = {"question": "What does the treatment change in this panel?", "answer": "It raises the measured values."}


def test_bbox_qa_skips_figures_without_printed_letters(unlettered_upstream: Path) -> None:
    stage = get_generator("bbox_qa", GenerationConfig(task_settings={"bbox_qa": {"use_model": False}}))
    rows, rejects, _ = run_by_hand(stage, unlettered_upstream, lambda r: None)
    assert rows == []
    reasons = [r.reason for r in rejects]
    assert reasons.count(RejectReason.UNLABELLED_PANEL) == 4  # the four multi-panel figures
    assert reasons.count(RejectReason.NO_PANELS) == 1  # the single-panel one
    assert all("printed letter" in r.detail for r in rejects if r.reason is RejectReason.UNLABELLED_PANEL)


def test_single_panel_qa_claims_no_sub_caption_for_unlettered_panels(unlettered_upstream: Path) -> None:
    stage = get_generator("single_panel_qa", GenerationConfig(per_figure={"single_panel_qa": 2}))
    prompts = {}

    def answer(request):
        prompts[request.key] = request.messages[-1].text
        return hand_result(request, **GOOD_QA)

    rows, rejects, _ = run_by_hand(stage, unlettered_upstream, answer)
    assert rows and not rejects
    figures = {f.figure_id: f for f in read_rows(unlettered_upstream / "figures" / "part-00000.parquet", Figure)}
    for row in rows:
        assert row.context.startswith("Effect of treatment on")  # the whole caption, not "(B) ..."'s part
        if len(figures[row.figure_id].panels) > 1:
            assert WHOLE_CAPTION.strip() in prompts[row.qa_id]
        else:  # one whole-image panel: the figure's caption is that panel's own caption
            assert WHOLE_CAPTION.strip() not in prompts[row.qa_id] and "Image caption: Effect of" in prompts[row.qa_id]
    assert {len(figures[r.figure_id].panels) for r in rows} >= {1, 2}


def test_single_panel_qa_uses_the_paired_sub_caption(upstream: Path) -> None:
    stage = get_generator("single_panel_qa", GenerationConfig(per_figure={"single_panel_qa": 2}))
    rows, _, _ = run_by_hand(stage, upstream, lambda r: hand_result(r, **GOOD_QA))
    for row in rows:
        assert row.context.startswith(f"tumour growth measured in group {row.panel_labels[0]} ") or \
            f"measured in group {row.panel_labels[0]} after" in row.context  # its own part, by its letter


def test_multi_panel_and_mcq_never_quote_a_guessed_sub_caption(unlettered_upstream: Path) -> None:
    multi = get_generator("multi_panel_qa", GenerationConfig(per_figure={"multi_panel_qa": 1}))
    seen = []

    def answer(request):
        seen.append(str(request.messages))
        return hand_result(request, **GOOD_QA)

    rows, _, _ = run_by_hand(multi, unlettered_upstream, answer)
    assert rows and not any("measured in group" in text for text in seen)
    mcq = get_generator("mcq_selection", GenerationConfig(per_figure={"mcq_selection": 2}))
    rows, _, _ = run_by_hand(mcq, unlettered_upstream, lambda r: None)  # no model: rule phrasing
    assert rows and all("measured in group" not in r.question for r in rows)
    assert all(r.answer_letter in "ABCD" and r.options[0] == "Image-1" for r in rows)
