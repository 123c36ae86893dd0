"""The LLM judge through the real engine, against a fake OpenAI-compatible server (HTTP boundary)."""

from __future__ import annotations

import json
import re

import pytest
from fakes.openai_server import FakeOpenAIServer

from pipeline.engine import ModelRole, build_engine
from pipeline.engine.settings import load_settings
from pipeline.evaluate.judge import JUDGE_TEMPLATE, judge_requests, judge_scores

pytestmark = pytest.mark.slow


def _grader(body, record) -> str:
    """Grades like a strict judge: 5 when the candidate repeats the reference, else 2; one item gets
    an answer outside the 1-5 range, which must not count."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    text = user if isinstance(user, str) else " ".join(p.get("text", "") for p in user)
    ref = re.search(r"Reference answer: (.*)", text).group(1).strip()
    cand = re.search(r"Candidate answer: (.*)", text).group(1).strip()
    if cand == "out of range":
        return json.dumps({"score": 9, "reason": "bad"})
    return json.dumps({"score": 5 if cand == ref else 2, "reason": "compared"})


def test_judge_scores_through_engine():
    items = [
        ("a", "Which stain?", "Trichrome", "Trichrome"),
        ("b", "Which organ?", "Liver", "Spleen"),
        ("c", "How many panels?", "Two", "out of range"),
    ]
    with FakeOpenAIServer(responder=_grader) as srv:
        role = ModelRole(backend="openai", base_urls=[srv.base_url], model="fake-model", max_attempts=1,
                         backoff_initial_s=0.01, backoff_max_s=0.02, timeout_s=5.0)
        engine = build_engine(load_settings(text=role, vision=ModelRole()), cache_dir=None, no_cache=True)
        scores = judge_scores(engine, items)
        assert srv.calls and all(c.template == f"{JUDGE_TEMPLATE}/1" for c in srv.calls)
    assert scores["a"] == 1.0
    assert scores["b"] == pytest.approx(0.25)
    assert scores["c"] is None  # failed validation twice: no score rather than a made-up one


def test_judge_requests_fill_the_template():
    (req,) = judge_requests([("k", "Q?", "ref text", "")])
    user = req.messages[-1].text
    assert "Reference answer: ref text" in user and "Candidate answer: (no answer)" in user
    assert req.sampling.temperature == 0.0 and req.output_model.__name__ == "JudgeVerdict"
