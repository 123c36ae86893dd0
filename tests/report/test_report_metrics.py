"""Each report statistic against values worked out by hand on small fixed inputs."""

from __future__ import annotations

import pytest

from pipeline.report import metrics, sections
from pipeline.report.load import load_report_data
from pipeline.report.stats import DatasetStats, compute_stats
from schemas import Method, Provenance, QARow, SummaryRow, Turn

from .dataset import build_dataset

PROV = Provenance(method=Method.RULE)


def qa(question="q", answer="a", *, options=(), letter=None, before=None, after=None, qa_id="t/f/0") -> QARow:
    return QARow(qa_id=qa_id, task="t", figure_id="f", article_id="a",
                 conversation=[Turn(speaker="human", value=question), Turn(speaker="gpt", value=answer)],
                 question=question, answer=answer, options=list(options), answer_letter=letter,
                 leakage_before=before, leakage_after=after, provenance=PROV)


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


def test_task_section_from_pipeline_stats(full):
    rows = {r["task"]: r for r in sections.tasks(full, compute_stats(full.out_dir), None)["rows"]}
    # final splits: PMC3 rows are eval; text_qa lost PMC2/f1/0 to the dedup gate, bbox_qa has one
    # qa.bbox_qa reject (a single-panel figure)
    got = {t: (r["counts"], r["train"], r["eval"], r["rejected"], r["reasons"]) for t, r in rows.items()}
    assert got == {
        "bbox_qa": ([2, 2, 2], 1, 1, 1, {"no-panels": 1}),
        "mcq_selection": ([3, 3, 3], 2, 1, 0, {}),
        "text_qa": ([3, 3, 2], 2, 0, 1, {"near-duplicate": 1}),
    }
    assert rows["text_qa"]["duplicate_rate"] == pytest.approx(1 / 3, abs=1e-4)


def test_task_section_marks_unbuilt_tables(tmp_path):
    data = load_report_data(build_dataset(tmp_path / "out", stages=4))
    rows = sections.tasks(data, compute_stats(data.out_dir), None)["rows"]
    assert {r["task"]: r["counts"] for r in rows} == {
        "bbox_qa": [2, None, None], "mcq_selection": [3, None, None], "text_qa": [3, None, None]}


def _stats(rejects_by_stage) -> DatasetStats:
    return DatasetStats(out_dir="x", tasks=[], rejects_by_stage=rejects_by_stage,
                        total_rejects=sum(sum(c.values()) for c in rejects_by_stage.values()))


def test_reject_rows_and_reason_totals():
    stats = _stats({"ingest": {"image-missing": 3, "xml-malformed": 1}, "summary": {"model-error": 2},
                    "gate.dedup": {"near-duplicate": 1}, "knowledge": {"model-error": 1}})
    assert metrics.reject_rows(stats) == [
        ("ingest", "image-missing", 3), ("summary", "model-error", 2), ("gate.dedup", "near-duplicate", 1),
        ("ingest", "xml-malformed", 1), ("knowledge", "model-error", 1),
    ]
    assert metrics.reason_totals(stats) == [("image-missing", 3), ("model-error", 3), ("near-duplicate", 1),
                                            ("xml-malformed", 1)]


def test_reject_section_of_fixture(full):
    sec = sections.rejects(full, compute_stats(full.out_dir), None)
    assert sec["total"] == 4
    assert sorted(sec["by_reason"]) == [("gate.dedup", "near-duplicate", 1), ("ingest", "image-missing", 1),
                                        ("ingest", "xml-malformed", 1), ("qa.bbox_qa", "no-panels", 1)]


def test_leakage_pairs_skip_missing_scores():
    rows = [qa(before=0.8, after=0.1), qa(before=0.5), qa(after=0.0), qa()]
    assert metrics.leakage_pairs(rows) == ([0.8, 0.5], [0.1, 0.0])


def test_histogram_bins_edges_and_clamping():
    # bins of width 0.25 over [0, 1]: 0 and 0.1 -> bin 0, 0.25 -> bin 1 (left-closed), 0.55 -> bin 2,
    # 1.0 -> last bin (closed), 1.3 and -0.2 are clamped to the ends
    assert metrics.histogram([0.0, 0.1, 0.25, 0.55, 1.0, 1.3, -0.2], 4, 0.0, 1.0) == [3, 1, 1, 2]
    # decimal edges that float division puts a hair low (0.6 / 0.1 = 5.999...) still open their bin
    assert metrics.histogram([0.3, 0.6, 0.7, 0.2999], 10, 0.0, 1.0) == [0, 0, 1, 1, 0, 0, 1, 1, 0, 0]
    assert metrics.histogram([], 3, 0.0, 1.0) == [0, 0, 0]
    with pytest.raises(ValueError):
        metrics.histogram([0.5], 0, 0.0, 1.0)


def test_leakage_section_of_fixture(full):
    sec = sections.leakage(full, compute_stats(full.out_dir))
    per_task = {t["task"]: (t["table"], t["n"], t["before"], t["after"]) for t in sec["per_task"]}
    # final rows: text_qa keeps rows 0 and 1 (before 0.6, 0.7; after 0.0, 0.1)
    assert per_task["text_qa"] == ("final/text_qa", 2, pytest.approx(0.65), pytest.approx(0.05))
    assert per_task["bbox_qa"] == ("final/bbox_qa", 2, 0.0, 0.0)
    assert per_task["mcq_selection"] == ("final/mcq_selection", 3, pytest.approx(0.4), pytest.approx(0.2))


def test_letter_distribution_lists_unused_letters():
    four = ["w", "x", "y", "z"]
    rows = [qa(options=four, letter="A"), qa(options=four + ["v"], letter="B"), qa(options=four)]  # last: no letter
    assert metrics.offered_letters(rows) == {"A", "B", "C", "D", "E"}
    assert metrics.offered_letters([qa(), qa()]) == set()
    assert metrics.letter_distribution({"A": 2, "C": 1}, {"A", "B", "C", "D"}) == {"A": 2, "B": 0, "C": 1, "D": 0}
    assert metrics.letter_distribution({}, set()) == {}


def test_letter_section_of_fixture(full):
    sec = sections.letters(full, compute_stats(full.out_dir), None)
    assert sec["dists"] == {"mcq_selection": {"A": 2, "B": 1, "C": 0, "D": 0}}


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
