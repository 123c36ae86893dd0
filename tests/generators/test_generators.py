"""Plan/finish logic of each generator, fed hand-built ChatResults (parse logic, not a model)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from qa_upstream import error_result, hand_result, run_by_hand

from pipeline.engine.types import ErrorKind
from pipeline.generators import GenerationConfig, generator_names, get_generator, register
from pipeline.generators.base import Generator
from pipeline.geometry import relation
from pipeline.io.parquet import read_rows
from schemas import Figure, Method, QARow, RejectReason

GOOD_QA = {"question": "What does the treatment change in this figure?", "answer": "It raises the measured values."}


def placeholders(row: QARow) -> int:
    return sum(t.value.count("<image>") for t in row.conversation)


def check_rows(rows: list[QARow], task: str) -> None:
    for row in rows:
        QARow.model_validate(row.model_dump(by_alias=True))
        assert row.task == task and row.qa_id.startswith(f"{task}/{row.figure_id}/")
        assert placeholders(row) == len(row.image_paths)
        assert [t.speaker for t in row.conversation] == ["human", "gpt"]
        assert row.conversation[-1].value == row.answer
        assert all(Path(p).is_file() for p in row.image_paths)


def test_registry_discovers_the_six_generators() -> None:
    assert generator_names() == sorted(
        ["text_qa", "bbox_qa", "single_panel_qa", "multi_panel_qa", "mcq_selection", "compound_qa"]
    )
    stage = get_generator("text_qa")
    assert stage.name == "qa.text_qa" and stage.output_table == "qa/text_qa" and stage.templates == ("text_qa",)
    with pytest.raises(KeyError):
        get_generator("no_such_task")


def test_two_generators_cannot_claim_one_task() -> None:
    class Clash(Generator):
        task = "text_qa"
        prompt = "text_qa"

        def plan_figure(self, bundle, shard):
            return []

        def finish(self, item, result):
            return []

    with pytest.raises(ValueError, match="text_qa"):
        register(Clash)


def test_counts_change_only_their_own_task_fingerprint() -> None:
    a = GenerationConfig()
    b = GenerationConfig(per_figure={**a.per_figure, "bbox_qa": 5})
    assert get_generator("bbox_qa", a).config_hash({}) != get_generator("bbox_qa", b).config_hash({})
    assert get_generator("text_qa", a).config_hash({}) == get_generator("text_qa", b).config_hash({})


def test_text_qa(upstream: Path) -> None:
    stage = get_generator("text_qa", GenerationConfig(per_figure={"text_qa": 2}))
    rows, rejects, items = run_by_hand(stage, upstream, lambda r: hand_result(r, **GOOD_QA))
    assert len(rows) == 10 and not rejects
    check_rows(rows, "text_qa")
    assert all(not r.image_paths and r.context.startswith("Effect of treatment") for r in rows)
    assert rows[0].provenance.method is Method.TEXT_MODEL and rows[0].provenance.model_id == "hand"
    # the two questions of one figure ask about different things
    first_fig = [i.request.messages[1].text for i in items[:2]]
    assert first_fig[0] != first_fig[1]


def test_model_failures_become_rejects(upstream: Path) -> None:
    stage = get_generator("text_qa", GenerationConfig(per_figure={"text_qa": 1}))
    answers = iter([error_result, lambda r: error_result(r, ErrorKind.MODEL_ERROR),
                    lambda r: hand_result(r, question="Why?", answer="x"),
                    lambda r: hand_result(r, question="What rose after treatment here?", answer=" "),
                    lambda r: None])
    rows, rejects, _ = run_by_hand(stage, upstream, lambda r: next(answers)(r))
    assert not rows
    assert [r.reason for r in rejects] == [
        RejectReason.MODEL_UNPARSEABLE, RejectReason.MODEL_ERROR, RejectReason.MODEL_UNPARSEABLE,
        RejectReason.MODEL_UNPARSEABLE, RejectReason.STAGE_ERROR,  # no result at all: the engine broke its contract
    ]
    assert rejects[0].raw == "{not json" and all(r.figure_id and r.stage == "qa.text_qa" for r in rejects)


def test_bbox_answers_come_from_geometry(upstream: Path) -> None:
    stage = get_generator("bbox_qa", GenerationConfig(per_figure={"bbox_qa": 3}))
    figures = {f.figure_id: f for f in read_rows(upstream / "figures" / "part-00000.parquet", Figure)}

    def phrase(request):
        a, b = re.findall(r'"(Panel [A-Z])"', request.messages[1].text)[:2]
        return hand_result(request, question=f"How is {a} placed with respect to {b}?")

    rows, rejects, _ = run_by_hand(stage, upstream, phrase)
    check_rows(rows, "bbox_qa")
    # 4-panel: 3 pairs, 3-panel: 3, 2-panel: 1, 1-panel: rejected, 6-panel: 3
    assert len(rows) == 10
    assert [r.reason for r in rejects] == [RejectReason.NO_PANELS]
    for row in rows:
        fig = figures[row.figure_id]
        boxes = {p.label: p.box_norm for p in fig.panels}
        a, b = row.panel_labels
        rel = relation(boxes[a], boxes[b], 0.05)
        assert row.relation == rel.code and row.answer == rel.describe(f"Panel {a}", f"Panel {b}")
        assert row.provenance.method is Method.GEOMETRY and row.provenance.template_name == "bbox_qa"
        assert row.question.startswith("How is <ref>Panel ")
        assert row.question.count("<box>[[") == 2 and row.image_paths == [fig.image_path]


def test_bbox_falls_back_to_the_rule_question(upstream: Path) -> None:
    stage = get_generator("bbox_qa", GenerationConfig(per_figure={"bbox_qa": 1}))
    bad = iter(["Is Panel A left of Panel B?", "Where is it?", "Describe the figure in detail?", None, "x"])

    def answer(request):
        q = next(bad)
        return error_result(request) if q in (None, "x") else hand_result(request, question=q)

    rows, _, _ = run_by_hand(stage, upstream, answer)
    assert len(rows) == 4
    for row in rows:
        assert row.provenance.template_name == "bbox_qa.rule" and row.provenance.backend == "none"
        assert re.fullmatch(r"Where is <ref>Panel \w</ref><box>\[\[[\d, ]+\]\]</box> located relative to <ref>Panel \w</ref><box>\[\[[\d, ]+\]\]</box>\?", row.question)


def test_bbox_without_model_makes_no_requests(upstream: Path) -> None:
    stage = get_generator("bbox_qa", GenerationConfig(task_settings={"bbox_qa": {"use_model": False}}))
    rows, _, items = run_by_hand(stage, upstream, lambda r: pytest.fail("no request expected"))
    assert items and all(i.request is None for i in items) and len(rows) == len(items)


def test_single_panel_qa_uses_crops(upstream: Path) -> None:
    stage = get_generator("single_panel_qa", GenerationConfig(per_figure={"single_panel_qa": 2}))
    rows, rejects, _ = run_by_hand(stage, upstream, lambda r: hand_result(r, **GOOD_QA))
    check_rows(rows, "single_panel_qa")
    assert len(rows) == 10 and not rejects
    for row in rows:
        assert len(row.image_paths) == 1 and "/crops/" in row.image_paths[0]
        assert row.context.startswith(("tumour", "gene", "cell", "bone", "protein", "blood"))  # the sub-caption
    # two QAs of a four-panel figure are about two different panels
    four = [r for r in rows if r.figure_id.endswith("DEMO1-Figure2-1")]  # the 2x2 grid (LAYOUTS[0])
    assert len({r.panel_labels[0] for r in four}) == 2


def test_single_panel_qa_uses_the_whole_image_of_a_single_panel_figure(tmp_path: Path, compound_figures: Path) -> None:
    """Stage 3 writes no crop for a figure that is one whole-image panel (it would be the whole
    image again): its one panel is then the figure image, described by the figure-level row."""
    import shutil

    from qa_upstream import build_upstream

    from pipeline.io.parquet import write_rows
    from schemas import PerceptionRow, PerceptionScope

    images = tmp_path / "in"
    images.mkdir()
    for path in sorted(compound_figures.glob("*.png"))[:2]:
        shutil.copy(path, images)
    out = tmp_path / "out"
    figures = build_upstream(out, images, layouts={0: (1, 1), 1: (1, 2)}, lettered=False)
    table = out / "perception" / "part-00000.parquet"
    single = figures[0]
    kept = [r for r in read_rows(table, PerceptionRow)
            if not (r.figure_id == single.figure_id and r.scope is PerceptionScope.PANEL)]  # as stage 3 writes it
    write_rows(table, kept, PerceptionRow)

    stage = get_generator("single_panel_qa", GenerationConfig(per_figure={"single_panel_qa": 2}))
    prompts: list[str] = []

    def answer(request):
        prompts.append(request.messages[-1].text)
        return hand_result(request, **GOOD_QA)

    rows, rejects, _ = run_by_hand(stage, out, answer)
    check_rows(rows, "single_panel_qa")
    assert not rejects and len(rows) == 4
    whole = [r for r in rows if r.figure_id == single.figure_id]
    assert len(whole) == 2
    for row in whole:
        assert row.image_paths == [single.image_path] and row.panel_labels == ["A"]
        assert row.boxes == [single.panels[0].box_norm] and row.context == single.caption
    # the figure-level description; the caption is this panel's own, not "the whole figure's"
    mine = [p for p in prompts if "A figure with 1 panels" in p]
    assert len(mine) == 2 and all(p.startswith(f"Image caption: {single.caption}") for p in mine)
    # a figure without a figure-level perception row still has nothing to show
    write_rows(table, [r for r in kept if r.figure_id != single.figure_id], PerceptionRow)
    rows, rejects, _ = run_by_hand(stage, out, answer)
    assert {r.figure_id for r in rows} == {figures[1].figure_id}
    assert [(r.figure_id, r.reason) for r in rejects] == [(single.figure_id, RejectReason.NO_PANELS)]
    assert "single-panel figure without a figure-level perception row" in rejects[0].detail


def test_multi_panel_qa_names_images(upstream: Path) -> None:
    stage = get_generator("multi_panel_qa", GenerationConfig(per_figure={"multi_panel_qa": 2}))
    rows, rejects, items = run_by_hand(stage, upstream, lambda r: hand_result(r, **GOOD_QA))
    check_rows(rows, "multi_panel_qa")
    assert [r.reason for r in rejects] == [RejectReason.NO_PANELS]  # the single-panel figure
    for row in rows:
        assert 2 <= len(row.image_paths) <= 3
        assert row.conversation[0].value.startswith("Image-1: <image>\nImage-2: <image>")
        assert len(set(row.image_paths)) == len(row.image_paths)
    assert "Image-2:" in items[0].request.messages[1].text


def test_compound_qa_whole_figure(upstream: Path) -> None:
    stage = get_generator("compound_qa")
    rows, rejects, _ = run_by_hand(stage, upstream, lambda r: hand_result(r, **GOOD_QA))
    check_rows(rows, "compound_qa")
    assert len(rows) == 4 and [r.reason for r in rejects] == [RejectReason.NO_PANELS]
    assert all(r.conversation[0].value.startswith("<image>\nContext: ") for r in rows)


def test_mcq_selection(upstream: Path) -> None:
    stage = get_generator("mcq_selection", GenerationConfig(per_figure={"mcq_selection": 2}))
    descriptions = iter(["a bar chart of tumour growth", "Panel B", ""] + ["Cell counts over time"] * 20)
    rows, rejects, items = run_by_hand(stage, upstream, lambda r: hand_result(r, description=next(descriptions)))
    check_rows(rows, "mcq_selection")
    assert len(rows) == 9 and not rejects  # the 1-panel figure asks once, with distractors from other figures
    by_fig = {}
    for row in rows:
        assert len(row.image_paths) == 4 == len(set(row.image_paths))
        assert row.options == ["Image-1", "Image-2", "Image-3", "Image-4"]
        slot = "ABCD".index(row.answer_letter)
        assert row.answer == f"{row.answer_letter}. Image-{slot + 1}"
        assert row.conversation[0].value.endswith("D. Image-4\nAnswer with the option's letter.")
        by_fig.setdefault(row.figure_id, []).append(row)
    assert rows[0].question == "Which image shows a bar chart of tumour growth?"
    assert rows[0].provenance.method is Method.TEXT_MODEL
    # unusable phrases ("Panel B", "") fall back to the sub-caption, recorded in provenance
    assert rows[1].provenance.template_name == "mcq_selection.rule" and "measured in group" in rows[1].question
    assert rows[3].question == "Which image shows cell counts over time?"


def test_mcq_needs_enough_distractors(tmp_path: Path, compound_figures: Path) -> None:
    import shutil

    from qa_upstream import build_upstream

    images = tmp_path / "one"
    images.mkdir()
    shutil.copy(sorted(compound_figures.glob("*.png"))[1], images)
    build_upstream(tmp_path / "out", images, layouts={0: (1, 3)})
    stage = get_generator("mcq_selection")
    rows, rejects, _ = run_by_hand(stage, tmp_path / "out", lambda r: hand_result(r, description="plots"))
    assert not rows and [r.reason for r in rejects] == [RejectReason.NO_PANELS]
    assert "2 distractor" in rejects[0].detail


def test_stage_counts_by_letter_are_recorded(upstream: Path) -> None:
    stage = get_generator("mcq_selection", GenerationConfig(per_figure={"mcq_selection": 4}))
    rows, _, _ = run_by_hand(stage, upstream, lambda r: hand_result(r, description="a plot"))
    counts = Counter(r.answer_letter for r in rows)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_a_new_generator_is_one_registered_class(upstream: Path) -> None:
    from pipeline.generators import build_generators, registry

    @register
    class CaptionEcho(Generator):  # what a seventh module would hold (here reusing text_qa's prompt)
        task = "caption_echo"
        prompt = "text_qa"

        def plan_figure(self, bundle, shard):
            yield self.reject(self.qa_id(bundle.figure, 0), bundle.figure, RejectReason.NO_PANELS, "demo")

        def finish(self, item, result):
            return []

    try:
        assert "caption_echo" in generator_names()
        stage = get_generator("caption_echo")
        assert (stage.name, stage.output_table, stage.templates) == ("qa.caption_echo", "qa/caption_echo", ("text_qa",))
        assert [g.task for g in build_generators(tasks=["caption_echo", "text_qa"])] == ["caption_echo", "text_qa"]
        _, rejects, _ = run_by_hand(stage, upstream, lambda r: None)
        assert len(rejects) == 5 and rejects[0].stage == "qa.caption_echo"
    finally:
        registry._REGISTRY.pop("caption_echo", None)


def test_model_text_cannot_add_image_placeholders(upstream: Path) -> None:
    stage = get_generator("compound_qa")
    rows, _, _ = run_by_hand(stage, upstream, lambda r: hand_result(
        r, question="What does <image> show in the right half?", answer="A <image> of cells."))
    assert rows and all(placeholders(r) == 1 and "<image>" not in r.answer for r in rows)


def test_a_seventh_generator_is_one_module_plus_one_prompt(upstream: Path, tmp_path: Path) -> None:
    """tests/generators/seventh/ holds a complete generator the way a contributor would add it to
    pipeline/generators/ and prompts/: loading the module registers it, and the build plans its
    generation and de-leak stages with no other change."""
    import importlib.util
    import shutil

    from pipeline.build import BuildConfig, stage_plan
    from pipeline.generators import registry

    here = Path(__file__).parent / "seventh"
    prompts = tmp_path / "prompts"
    shutil.copytree(Path(__file__).resolve().parents[2] / "prompts", prompts)
    shutil.copy(here / "term_qa.yaml", prompts / "term_qa.yaml")
    spec = importlib.util.spec_from_file_location("pipeline.generators.term_qa", here / "term_qa.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    try:
        config = BuildConfig(input_dir=tmp_path, out_dir=tmp_path / "out", prompts_dir=prompts,
                             generation=GenerationConfig(task_settings={"term_qa": {"max_terms": 1}}))
        names = [s.name for s in stage_plan(config)]
        assert "qa.term_qa" in names and "deleak.term_qa" in names
        stage = get_generator("term_qa", config.generation, prompts)
        rows, rejects, items = run_by_hand(stage, upstream, lambda r: hand_result(r, **GOOD_QA))
        assert rows and len(rows) + len(rejects) == 5  # one question per figure (default count)
        check_rows(rows, "term_qa")
        assert all("Term:" in i.request.messages[-1].text for i in items)
        other = GenerationConfig(task_settings={"term_qa": {"max_terms": 2}})
        assert get_generator("term_qa", other, prompts).config_hash({}) != stage.config_hash({})
        assert get_generator("text_qa", other).config_hash({}) == get_generator("text_qa", config.generation).config_hash({})
    finally:
        registry._REGISTRY.pop("term_qa", None)
