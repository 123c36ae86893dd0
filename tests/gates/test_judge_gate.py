"""The optional judge gate through the engine against the fake server: a low score on faithfulness or
answerability drops the row, a verdict that never came back keeps it, code-written rows are not sent."""

from __future__ import annotations

import json

import pytest
from fakes.openai_server import FakeOpenAIServer
from qa_upstream import make_qa

from pipeline.engine import ModelRole, build_engine, load_settings
from pipeline.gates import JudgeConfig, JudgeGate
from schemas import Method, Provenance, RejectReason

pytestmark = pytest.mark.slow


def judge(body: dict, record) -> str:
    """Scores like a strict reviewer: an answer about survival is not in any of these rows."""
    text = json.dumps(body["messages"])  # all turns: the engine's repair call repeats the row
    if "survival" in text:
        return json.dumps({"faithfulness": 1, "answerability": 4, "reason": "The answer is not in the context."})
    if "Broken" in text:
        return "not json at all"
    return json.dumps({"faithfulness": 5, "answerability": 5, "reason": "Supported by the caption."})


def test_judge_gate_with_the_fake_server(tmp_path) -> None:
    context = "Heat map of CTSZ mRNA: higher in most tumours than in normal tissue."
    rows = [
        make_qa("text_qa/f/0", answer="CTSZ is higher in most tumours.", context=context),
        make_qa("text_qa/f/1", answer="It doubled survival in elderly patients.", context=context),
        make_qa("text_qa/f/2", answer="Broken verdict for this one.", context=context),
        make_qa("bbox_qa/f/0", answer="Panel A is left of Panel B.").model_copy(
            update={"provenance": Provenance(method=Method.GEOMETRY, backend="none")}),
    ]
    with FakeOpenAIServer() as server:
        server.responder = judge
        role = ModelRole(backend="openai", base_urls=[server.base_url], model="judge-model", timeout_s=10,
                         max_attempts=1)
        engine = build_engine(load_settings(text=role), tmp_path / "cache")
        gate = JudgeGate(engine, JudgeConfig(role=role, threshold=3))
        kept, rejects = gate.apply(rows)
        sent = [c.template for c in server.chat_calls()]
    assert [r.qa_id for r in kept] == ["text_qa/f/0", "text_qa/f/2", "bbox_qa/f/0"]
    assert [(r.item, r.reason) for r in rejects] == [("text_qa/f/1", RejectReason.JUDGE_LOW)]
    assert "faithfulness 1" in rejects[0].detail and gate.unjudged == 1
    assert sent and all(t == "judge_row/1" for t in sent) and len(set(sent)) == 1
    asked = {json.dumps(c.body["messages"][1]) for c in server.chat_calls()}
    assert len(asked) == 3 and not any("Panel A is left" in a for a in asked)  # the bbox row is not sent
