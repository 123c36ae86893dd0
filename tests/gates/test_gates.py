"""Each gate keeps good rows and drops a crafted bad one with the right reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from qa_upstream import make_qa

from pipeline.gates import (
    AnswerConfig, AnswerGate, DedupConfig, DedupGate, GeometryGate, MCQBalanceConfig, MCQBalanceGate,
    SchemaGate, SplitConfig, SplitGate,
)
from pipeline.generators.conversation import mcq_answer
from pipeline.geometry import internvl_ref, relation
from schemas import Box, RejectReason, Turn


@pytest.fixture()
def image(tmp_path: Path) -> str:
    path = tmp_path / "img.png"
    Image.new("RGB", (40, 30), "white").save(path)
    return str(path)


def test_schema_gate(image: str) -> None:
    good = make_qa("compound_qa/A/f/0", image_paths=[image])
    no_placeholder = make_qa("compound_qa/A/f/1", image_paths=[image]).model_copy(
        update={"conversation": [Turn(speaker="human", value="What?"), Turn(speaker="gpt", value="Tumour growth in treated mice.")]}
    )
    missing_file = make_qa("compound_qa/A/f/2", image_paths=[image + ".gone"])
    bad_letter = make_qa("mcq_selection/A/f/0", options=["Image-1", "Image-2"], answer_letter="C")
    records = [r.model_dump(mode="json", by_alias=True) for r in (good, no_placeholder, missing_file, bad_letter, good)]
    records.append({**records[0], "qa_id": "compound_qa/A/f/9", "conversation": "not a list"})
    kept, rejects = SchemaGate().validate(records)
    assert [r.qa_id for r in kept] == [good.qa_id]
    assert [(r.item, r.reason) for r in rejects] == [
        ("compound_qa/A/f/9", RejectReason.SCHEMA_INVALID),
        ("compound_qa/A/f/1", RejectReason.SCHEMA_INVALID),
        ("compound_qa/A/f/2", RejectReason.IMAGE_MISSING),
        ("mcq_selection/A/f/0", RejectReason.SCHEMA_INVALID),
        ("compound_qa/A/f/0", RejectReason.DUPLICATE_ID),
    ]
    assert "placeholder" in rejects[1].detail and rejects[0].stage == "gate.schema"


def test_answer_gate() -> None:
    rows = [
        make_qa("text_qa/A/f/0"),
        make_qa("text_qa/A/f/1", answer="   "),
        make_qa("text_qa/A/f/2", answer="word " * 200),
        make_qa("bbox_qa/A/f/0", answer="word " * 50),
        make_qa("text_qa/A/f/3", answer="It is a comprehensive database that provides a comprehensive and "
                                        "comprehensive database that provides a comprehensive and comprehensive view."),
        make_qa("text_qa/A/f/4", answer="The heat map shows that CTSZ mRNA is higher in most tumours than in "
                                        "the matching normal tissues, most clearly in blood."),
    ]
    kept, rejects = AnswerGate(AnswerConfig(max_words=100, max_words_by_task={"bbox_qa": 30})).apply(rows)
    assert [r.qa_id for r in kept] == ["text_qa/A/f/0", "text_qa/A/f/4"]
    assert [r.reason for r in rejects] == [
        RejectReason.ANSWER_EMPTY, RejectReason.ANSWER_LENGTH, RejectReason.ANSWER_LENGTH, RejectReason.ANSWER_DEGENERATE,
    ]
    assert "repeats" in rejects[-1].detail or "distinct" in rejects[-1].detail


def bbox_row(qa_id: str, a: Box, b: Box, relation_code: str | None = None, answer: str | None = None):
    rel = relation(a, b, 0.05)
    question = f"Where is {internvl_ref('Panel A', a)} relative to {internvl_ref('Panel B', b)}?"
    return make_qa(
        qa_id, question=question, answer=answer or rel.describe("Panel A", "Panel B"),
        panel_labels=["A", "B"], boxes=[a, b], relation=relation_code or rel.code,
    )


def test_geometry_gate() -> None:
    left, right = Box(x0=0, y0=0, x1=0.5, y1=1), Box(x0=0.5, y0=0, x1=1, y1=1)
    good = bbox_row("bbox_qa/A/f/0", left, right)
    wrong_relation = bbox_row("bbox_qa/A/f/1", left, right, relation_code="right_of,same_row")
    wrong_answer = bbox_row("bbox_qa/A/f/2", left, right, answer="Panel A is to the right of Panel B, in the same row.")
    moved_box = good.model_copy(update={"qa_id": "bbox_qa/A/f/3", "boxes": [right, left]})
    kept, rejects = GeometryGate(0.05).apply([good, wrong_relation, wrong_answer, moved_box, make_qa("text_qa/A/f/0")])
    assert [r.qa_id for r in kept] == ["bbox_qa/A/f/0", "text_qa/A/f/0"]
    assert [r.item for r in rejects] == ["bbox_qa/A/f/1", "bbox_qa/A/f/2", "bbox_qa/A/f/3"]
    assert all(r.reason is RejectReason.GEOMETRY_MISMATCH for r in rejects)


def test_dedup_gate(image: str) -> None:
    q = "Which cells are stained brown in the tissue section from the treated mouse?"
    rows = [
        make_qa("single_panel_qa/A/f/0", question=q, answer="The tumour cells.", image_paths=[image]),
        make_qa("single_panel_qa/A/f/1", question=q.replace("brown", "brown,"), answer="The tumour cells.", image_paths=[image]),
        make_qa("single_panel_qa/B/f/0", question=q, answer="The tumour cells.", image_paths=[image + "2"]),  # other image
        make_qa("single_panel_qa/A/f/2", question="How many nuclei are visible in the section?", answer="About forty.", image_paths=[image]),
    ]
    kept, rejects = DedupGate(DedupConfig(threshold=0.8)).apply(rows)
    assert sorted(r.qa_id for r in kept) == ["single_panel_qa/A/f/0", "single_panel_qa/A/f/2", "single_panel_qa/B/f/0"]
    assert [(r.item, r.reason) for r in rejects] == [("single_panel_qa/A/f/1", RejectReason.NEAR_DUPLICATE)]
    assert "single_panel_qa/A/f/0" in rejects[0].detail


def mcq(qa_id: str, letter: str):
    options = ["Image-1", "Image-2", "Image-3", "Image-4"]
    images = [f"/x/{qa_id}-{i}.png" for i in range(4)]
    return make_qa(qa_id, question="Which image shows a bar chart?", answer=mcq_answer(letter, options),
                   options=options, answer_letter=letter, image_paths=images, panel_labels=["A"])


def test_mcq_balance_rebalances() -> None:
    rows = [mcq(f"mcq_selection/A{i}/f/0", "A") for i in range(40)] + [make_qa("text_qa/A/f/0")]
    kept, rejects = MCQBalanceGate().apply(rows)
    assert not rejects and len(kept) == 41
    mcqs = [r for r in kept if r.answer_letter]
    assert Counter(r.answer_letter for r in mcqs) == {"A": 10, "B": 10, "C": 10, "D": 10}
    originals = {r.qa_id: r for r in rows}
    for row in mcqs:  # the correct image moved with the letter
        slot = "ABCD".index(row.answer_letter)
        assert row.image_paths[slot] == originals[row.qa_id].image_paths[0]
        assert row.answer == f"{row.answer_letter}. Image-{slot + 1}"
        assert row.conversation[-1].value == row.answer


def test_mcq_balance_drop_mode() -> None:
    rows = [mcq(f"mcq_selection/A{i}/f/0", "ABCD"[i % 4]) for i in range(40)]
    rows += [mcq(f"mcq_selection/B{i}/f/0", "A") for i in range(10)]
    kept, rejects = MCQBalanceGate(MCQBalanceConfig(mode="drop")).apply(rows)
    assert len(rejects) >= 9 and all(r.reason is RejectReason.MCQ_IMBALANCE for r in rejects)
    counts = Counter(r.answer_letter for r in kept)
    assert max(counts.values()) - min(counts.values()) <= 1
    # a balanced set passes untouched
    balanced = rows[:40]
    assert MCQBalanceGate(MCQBalanceConfig(mode="drop")).apply(balanced) == (balanced, [])


def test_split_gate_has_no_article_overlap() -> None:
    rows = [make_qa(f"text_qa/P{a}/f{k}/0", article_id=f"PMC{a}") for a in range(300) for k in range(3)]
    rows.append(make_qa("text_qa/none/f/0", article_id=" "))
    kept, rejects = SplitGate(SplitConfig(eval_fraction=0.2, seed=3)).apply(rows)
    assert [(r.item, r.reason) for r in rejects] == [("text_qa/none/f/0", RejectReason.MISSING_INPUT)]
    train = {r.article_id for r in kept if r.split == "train"}
    evals = {r.article_id for r in kept if r.split == "eval"}
    assert not train & evals and len(train | evals) == 300
    assert 0.12 < len(evals) / 300 < 0.28
    again, _ = SplitGate(SplitConfig(eval_fraction=0.2, seed=3)).apply(rows)
    assert [r.split for r in again] == [r.split for r in kept]  # deterministic
