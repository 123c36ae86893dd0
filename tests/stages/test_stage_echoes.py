"""Stages 1-3 blank fields that echo their prompt, so the echo never reaches a question: the knowledge
background "2-3 sentences of knowledge needed to read" and a summary's "image or plot types"
modality are what a small model wrote in a demo build."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qa_upstream import hand_result  # noqa: E402

from pipeline.stages.base import WorkItem  # noqa: E402
from pipeline.stages.knowledge import KnowledgeStage  # noqa: E402
from pipeline.stages.summary import SummaryStage  # noqa: E402
from schemas import BlankedField, Figure, KnowledgeRow, Reject, RejectReason, SourceFormat, SummaryRow  # noqa: E402

FIG = Figure(figure_id="PMC1/f1", article_id="PMC1", caption="Heat map of CTSZ mRNA in tumour and normal tissue.",
             source_format=SourceFormat.JATS, source_path="a.xml")


def _finish(stage, **fields):
    tpl = stage.template(stage.templates[0])
    request = tpl.request(FIG.figure_id, title="", caption=FIG.caption, summary="s", findings=[], mentions=[])
    return stage.finish(WorkItem(FIG.figure_id, request, FIG), hand_result(request, **fields))


def test_knowledge_background_echo_is_blanked_and_recorded() -> None:
    out = _finish(KnowledgeStage(), keywords=["CTSZ", "empty list if none"],
                  background="2-3 sentences of knowledge needed to read",
                  terms=[{"term": "CTSZ", "explanation": "Cathepsin Z, a lysosomal protease."}])
    rows = [o for o in out if isinstance(o, KnowledgeRow)]
    notes = [o for o in out if isinstance(o, Reject)]
    assert all(isinstance(n, BlankedField) for n in notes)  # the row is kept: these are not item rejects
    assert len(rows) == 1 and rows[0].background == "" and rows[0].keywords == ["CTSZ"]
    assert rows[0].terms[0].term == "CTSZ"  # real content is kept
    assert {(n.item, n.reason) for n in notes} == {
        ("PMC1/f1#background", RejectReason.PROMPT_ECHO), ("PMC1/f1#keywords", RejectReason.PROMPT_ECHO)}


def test_summary_echo_drops_items_and_a_whole_echoed_summary_is_rejected() -> None:
    out = _finish(SummaryStage(), summary="A heat map compares CTSZ in tumour and normal tissue.",
                  modalities=["image or plot types", "heat map"], anatomy=["empty list if none"],
                  key_findings=["key_findings"])
    row = next(o for o in out if isinstance(o, SummaryRow))
    assert row.modalities == ["heat map"] and row.anatomy == [] and row.key_findings == []
    whole = _finish(SummaryStage(), summary="2-4 sentences on what the figure shows", modalities=[], anatomy=[],
                    key_findings=[])
    assert isinstance(whole, Reject) and whole.reason is RejectReason.PROMPT_ECHO


class _HandEngine:
    """Answers each request at once with a hand-built result (stands in for the engine in one shard)."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers

    def run(self, requests):
        return [hand_result(r, **self.answers[r.key]) for r in requests]


def test_a_blanked_field_keeps_its_row_and_is_no_reject_of_the_stage(tmp_path) -> None:
    """Stage balance (rows + rejects == planned items) holds when a kept row had a field blanked: the
    blank is recorded under blanked/<stage>/ and counted on the shard outcome, never in rejects/."""
    from pipeline.build.accounting import stage_balance
    from pipeline.build.report import BuildReport, StepReport
    from pipeline.report.stats import compute_stats
    from pipeline.io.parquet import read_rows, write_rows
    from pipeline.stages.runner import read_marker, run_stage_shard

    shard = "part-00000.parquet"
    other = FIG.model_copy(update={"figure_id": "PMC1/f2"})
    write_rows(tmp_path / "figures" / shard, [FIG, other], Figure)
    good = dict(summary="A heat map compares CTSZ in tumour and normal tissue.", modalities=["heat map"],
                anatomy=[], key_findings=["CTSZ is higher in tumour tissue."])
    engine = _HandEngine({FIG.figure_id: {**good, "key_findings": ["key_findings"]}, other.figure_id: good})
    stage = SummaryStage()
    outcome = run_stage_shard(stage, tmp_path, shard, engine, {"text": "hand"})

    assert (outcome.rows, outcome.rejects, outcome.blanked_fields) == (2, 0, 1)
    assert read_rows(tmp_path / "rejects" / "summary" / shard, Reject) == []
    blanked = read_rows(tmp_path / "blanked" / "summary" / shard, Reject)
    assert [(b.item, b.reason) for b in blanked] == [("PMC1/f1#key_findings", RejectReason.PROMPT_ECHO)]
    assert "key_findings blanked" in blanked[0].detail
    balance = stage_balance(stage, tmp_path, shard)
    assert balance.ok and (balance.items, balance.rows, balance.rejects) == (2, 2, 0), balance
    assert read_marker(stage, tmp_path, shard)["blanked_fields"] == 1
    again = run_stage_shard(stage, tmp_path, shard, engine, {"text": "hand"})  # settled from its marker
    assert again.skipped and again.blanked_fields == 1
    stats = compute_stats(tmp_path)
    assert stats.blanked_by_stage == {"summary": 1} and "summary" not in stats.rejects_by_stage
    report = StepReport.from_shards("summary", "summaries", [again], tmp_path)
    assert (report.rows, report.rejects, report.blanked_fields) == (2, 0, 1) and report.reject_reasons == {}
    markdown = BuildReport(out_dir=str(tmp_path), steps=[report]).to_markdown()
    assert "## Blanked fields" in markdown and "- **summary**: 1" in markdown and "## Rejects" not in markdown
    assert all(isinstance(n, BlankedField) for n in _finish(stage, **{**good, "anatomy": ["empty list if none"]})[1:])
