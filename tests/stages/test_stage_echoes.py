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
from schemas import Figure, KnowledgeRow, Reject, RejectReason, SourceFormat, SummaryRow  # noqa: E402

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
