"""Each report statistic against values worked out by hand on small fixed inputs."""

from __future__ import annotations

import pytest

from pipeline.report import metrics
from pipeline.report.load import load_report_data
from schemas import Method, Provenance, QARow, Reject, RejectReason, SummaryRow, Turn

from .dataset import build_dataset

PROV = Provenance(method=Method.RULE)


def qa(question="q", answer="a", *, options=(), letter=None, before=None, after=None, qa_id="t/f/0") -> QARow:
    return QARow(qa_id=qa_id, task="t", figure_id="f", article_id="a",
                 conversation=[Turn(speaker="human", value=question), Turn(speaker="gpt", value=answer)],
                 question=question, answer=answer, options=list(options), answer_letter=letter,
                 leakage_before=before, leakage_after=after, provenance=PROV)


def rej(stage, reason, item="x") -> Reject:
    return Reject(item=item, stage=stage, reason=reason, detail="d")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    return load_report_data(build_dataset(tmp_path_factory.mktemp("metrics") / "out"))


def test_stage_counts_full(full):
    got = {(c.stage, c.table): c.rows for c in metrics.stage_counts(full)}
    assert got == {
        ("ingest", "articles"): 3, ("ingest", "figures"): 5, ("ingest", "figures[].panels"): 4 + 3 + 1 + 6,
        ("summary (stage 1)", "summaries"): 4, ("knowledge (stage 2)", "knowledge"): 4,
        ("perception (stage 3)", "perception"): 14, ("generate (stage 4)", "qa/*"): 3 + 2 + 3,
        ("de-leakage (stage 5)", "deleaked/*"): 8, ("gates + split", "final/*"): 7,
    }


def test_stage_counts_partial_build_marks_missing_tables(tmp_path):
    data = load_report_data(build_dataset(tmp_path / "out", stages=1))
    counts = {c.table: c for c in metrics.stage_counts(data)}
    assert counts["summaries"].rows == 4
    for table in ("knowledge", "perception", "qa/*", "deleaked/*", "final/*"):
        assert counts[table].rows is None and "not built yet" in counts[table].note


def test_task_counts(full):
    got = {t.task: (t.generated, t.deleaked, t.final, t.train, t.eval, t.rejected) for t in metrics.task_counts(full)}
    # final splits: PMC3 rows are eval; text_qa lost PMC2/f1/0 to the dedup gate (1 reject),
    # bbox_qa has one qa.bbox_qa reject (single-panel figure)
    assert got == {
        "bbox_qa": (2, 2, 2, 1, 1, 1),
        "mcq_selection": (3, 3, 3, 2, 1, 0),
        "text_qa": (3, 3, 2, 2, 0, 1),
    }


def test_reject_task_attribution():
    tasks = ["text_qa", "bbox_qa"]
    assert metrics.reject_task(rej("qa.bbox_qa", RejectReason.NO_PANELS, "PMC1/f1"), tasks) == "bbox_qa"
    assert metrics.reject_task(rej("gate.dedup", RejectReason.NEAR_DUPLICATE, "text_qa/PMC1/f1/0"), tasks) == "text_qa"
    assert metrics.reject_task(rej("ingest", RejectReason.IMAGE_MISSING, "text_qa"), tasks) is None
    assert metrics.reject_task(rej("summary", RejectReason.MODEL_ERROR, "PMC1/f1"), tasks) is None


def test_rejects_by_reason_counts_and_order():
    rows = [rej("ingest", RejectReason.IMAGE_MISSING)] * 3 + [rej("ingest", RejectReason.XML_MALFORMED)] + [
        rej("summary", RejectReason.MODEL_ERROR), rej("gate.dedup", RejectReason.NEAR_DUPLICATE),
        rej("summary", RejectReason.MODEL_ERROR)]
    assert metrics.rejects_by_reason(rows) == [
        ("ingest", "image-missing", 3), ("summary", "model-error", 2),
        ("gate.dedup", "near-duplicate", 1), ("ingest", "xml-malformed", 1),
    ]
    assert metrics.reason_totals(rows) == {"image-missing": 3, "model-error": 2, "near-duplicate": 1,
                                           "xml-malformed": 1}


def test_leakage_pairs_skip_missing_scores():
    rows = [qa(before=0.8, after=0.1), qa(before=0.5), qa(after=0.0), qa()]
    assert metrics.leakage_pairs(rows) == ([0.8, 0.5], [0.1, 0.0])


def test_histogram_bins_edges_and_clamping():
    # bins of width 0.25 over [0, 1]: 0 and 0.1 -> bin 0, 0.25 -> bin 1 (left-closed), 0.55 -> bin 2,
    # 1.0 -> last bin (closed), 1.3 and -0.2 are clamped to the ends
    assert metrics.histogram([0.0, 0.1, 0.25, 0.55, 1.0, 1.3, -0.2], 4, 0.0, 1.0) == [3, 1, 1, 2]
    assert metrics.histogram([], 3, 0.0, 1.0) == [0, 0, 0]
    with pytest.raises(ValueError):
        metrics.histogram([0.5], 0, 0.0, 1.0)


def test_letter_distribution_lists_unused_letters():
    four = ["w", "x", "y", "z"]
    rows = [qa(options=four, letter="A"), qa(options=four, letter="A"), qa(options=four, letter="C"),
            qa(options=four + ["v"], letter="B"), qa()]  # the last is not an MCQ row
    assert metrics.letter_distribution(rows) == {"A": 2, "B": 1, "C": 1, "D": 0, "E": 0}
    assert metrics.letter_distribution([qa(), qa()]) == {}


def test_letter_distribution_of_fixture(full):
    assert metrics.letter_distribution(full.qa["final"]["mcq_selection"].rows) == {"A": 2, "B": 1, "C": 0, "D": 0}


def test_question_and_answer_lengths_in_words():
    rows = [qa("what is  this?", "a disc"), qa("where\nis panel B", "right of A ."), qa("why", "")]
    questions, answers = metrics.qa_lengths(rows)
    assert questions == [3, 4, 1]
    assert answers == [2, 4, 0]
    s = metrics.length_summary(questions)
    assert (s.n, s.min, s.median, s.max) == (3, 1, 3, 4)
    assert s.mean == pytest.approx(8 / 3)
    assert metrics.length_summary([]) is None


def summary(modalities) -> SummaryRow:
    return SummaryRow(figure_id="f", article_id="a", summary="s", modalities=modalities, anatomy=[],
                      key_findings=[], provenance=PROV)


def test_modality_distribution_case_space_and_once_per_figure():
    rows = [summary(["MRI", "bar chart"]), summary(["mri ", "Histology", "MRI"]), summary(["Bar  chart"]),
            summary(["CT", "MRI"]), summary(["", "  "])]
    # MRI: figures 1, 2 (once despite two mentions), 4 -> 3; bar chart: 1, 3 -> 2; ties by name
    assert metrics.modality_distribution(rows) == [("MRI", 3), ("bar chart", 2), ("CT", 1), ("Histology", 1)]
    assert metrics.modality_distribution(rows, top=2) == [("MRI", 3), ("bar chart", 2), ("other", 2)]
    assert metrics.modality_distribution([]) == []
