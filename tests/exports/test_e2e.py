"""Ingest -> stages 1-3 -> six generators -> de-leak -> finalize through the real engine: once against
the fake OpenAI server (a process-boundary fake) on our demo articles and every input format (plus the
shared JATS articles when present), and once with the embedded model on a demo article."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fakes.openai_server import FakeOpenAIServer

from pipeline.deleak import DeleakConfig
from pipeline.engine import ModelRole, build_engine, load_settings
from pipeline.finalize import run_finalize
from pipeline.gates import SplitConfig
from pipeline.generators import GenerationConfig
from pipeline.build import finalize_config, qa_stages
from pipeline.ingest import run_ingest
from pipeline.io.parquet import read_all
from pipeline.stages.knowledge import KnowledgeOptions, KnowledgeStage
from pipeline.stages.perception import PerceptionOptions, PerceptionStage
from pipeline.stages.runner import figure_shards, run_stage_shard
from pipeline.stages.summary import SummaryOptions, SummaryStage
from schemas import QARow

pytestmark = pytest.mark.slow
DANGLING = {"the", "a", "an", "of", "in", "on", "at", "to", "for", "and", "or", "with", "from", "by", "as"}
TASKS = ["bbox_qa", "compound_qa", "mcq_selection", "multi_panel_qa", "single_panel_qa", "text_qa"]


def build(out: Path, inputs: Path, engine, generation: GenerationConfig, model_ids: dict[str, str], tokens: int = 384):
    """`tokens` caps every model answer (the embedded test keeps it short to stay fast on 2 cores)."""
    run_ingest(inputs, out)
    outcomes = {}
    for shard in figure_shards(out):
        stages = [
            SummaryStage(SummaryOptions(max_tokens=tokens)),
            KnowledgeStage(KnowledgeOptions(max_tokens=tokens)),
            PerceptionStage("facts", PerceptionOptions(max_tokens=tokens)),
        ]
        stages += qa_stages(generation, DeleakConfig(threshold=0.35, max_tokens=tokens))
        for stage in stages:
            outcomes[stage.name] = run_stage_shard(stage, out, shard, engine, model_ids)
    result = run_finalize(out, finalize_config(generation, split=SplitConfig(eval_fraction=0.5, seed=0)))
    return outcomes, result


def _user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


def _line(text: str, label: str) -> str:
    m = re.search(rf"^{label}: (.*)$", text, re.M)
    return m.group(1).strip() if m else ""


def responder_for(server: FakeOpenAIServer):
    """Answers shaped by each template's prompt (what a cooperative model would say); other
    templates (stages 1-3) get the server's schema-valid default answers."""

    def respond(body: dict, record) -> str:
        name = (record.template or "").split("/")[0]
        text = _user_text(body)
        if name == "multi_panel_qa":  # a comparison naming the images, answered from their captions
            shown = re.findall(r"^(Image-\d+): (.*)$", text, re.M)[:2]
            if len(shown) == 2:
                (a, ca), (b, cb) = shown
                return json.dumps({"question": f"How does what {a} shows differ from {b}?",
                                   "answer": f"{a}: {' '.join(ca.split()[:8])}; {b}: {' '.join(cb.split()[:8])}"})
        if name in ("text_qa", "compound_qa", "single_panel_qa", "multi_panel_qa"):
            focus = re.search(r"Write one question about \"?(.+?)\"? that", text)
            source = _line(text, "Caption") or _line(text, "Image caption") or _line(text, "Image-1") or "the figure"
            words = source.split()[:12]
            while words and words[-1].lower().strip(",;:") in DANGLING:  # a cooperative model ends its phrase
                words.pop()
            answer = " ".join(words).rstrip(",;:") or "The figure."
            return json.dumps({"question": f"What does the figure show about {focus.group(1) if focus else 'it'}?",
                               "answer": answer})
        if name == "bbox_qa":
            a, b = re.findall(r'"(Panel \w+)"', text)[:2]
            return json.dumps({"question": f"How is {a} positioned with respect to {b}?"})
        if name == "mcq_selection":
            words = _line(text, "Image caption").split()[:8] or ["a", "measured", "plot"]
            return json.dumps({"description": " ".join(words)})
        if name == "deleak_context":
            return json.dumps({"context": "This figure comes from a biomedical research article on the experiment."})
        return server.default_responder(body, record)

    return respond


@pytest.fixture(scope="module")
def fake_server():
    with FakeOpenAIServer() as server:
        server.responder = responder_for(server)
        yield server


def test_end_to_end_with_fake_server(tmp_path: Path, build_input: Path, fake_server: FakeOpenAIServer) -> None:
    role = ModelRole(backend="openai", base_urls=[fake_server.base_url], model="fake-model", timeout_s=10)
    engine = build_engine(load_settings(text=role), tmp_path / "out" / "cache")
    generation = GenerationConfig(per_figure={t: 2 for t in TASKS})
    outcomes, result = build(tmp_path / "out", build_input, engine, generation, {"text": "fake-model"})
    out = tmp_path / "out"

    stats = {t.task: t for t in result.stats.tasks}
    for task in TASKS:
        assert outcomes[f"qa.{task}"].rows > 0, task
        assert result.rows_out[task] > 0, task  # text_qa included: its rows keep the context they answer from
    # de-leakage lowered the leakage of the contexts it rewrote (rows with images)
    for task in ("compound_qa", "single_panel_qa"):
        assert stats[task].rewritten > 0, task
        assert stats[task].leakage_after_mean < stats[task].leakage_before_mean, task
        deleaked = read_all(out / "deleaked" / task, QARow)
        assert all(r.leakage_after <= r.leakage_before and r.context_original is not None for r in deleaked)
    # text_qa shows no image: its context is all a reader has, so de-leakage leaves it (and says why)
    deleaked = read_all(out / "deleaked" / "text_qa", QARow)
    assert deleaked and all(r.context == r.context_original and r.leakage_after == r.leakage_before for r in deleaked)
    assert {r.deleak_provenance.template_name for r in deleaked if r.deleak_provenance} == {"deleak.text_only"}
    final_text = read_all(out / "final" / "text_qa", QARow)
    assert all(r.context and r.context == r.context_original for r in final_text)
    # the bbox questions used the model's phrasing, grounded with boxes, answers from geometry
    bbox = read_all(out / "final" / "bbox_qa", QARow)
    assert all(r.provenance.template_name == "bbox_qa" and "<box>[[" in r.question for r in bbox)
    assert stats["bbox_qa"].rule_fallbacks == 0 and stats["mcq_selection"].rule_fallbacks == 0
    # article-level split with both sides used and no overlap
    final = [r for t in TASKS for r in read_all(out / "final" / t, QARow)]
    train = {r.article_id for r in final if r.split == "train"}
    evals = {r.article_id for r in final if r.split == "eval"}
    assert train and evals and not train & evals
    # export: every line's images exist and the meta lengths match
    meta = json.loads((out / "export" / "internvl" / "meta.json").read_text())
    meta_eval = json.loads((out / "export" / "internvl" / "meta_eval.json").read_text())
    assert all(name.endswith("_train") for name in meta) and all(name.endswith("_eval") for name in meta_eval)
    assert sum(m["length"] for m in [*meta.values(), *meta_eval.values()]) == len(final)
    # a second run changes nothing and makes no model calls
    calls = len(fake_server.chat_calls())
    again, _ = build(out, build_input, engine, generation, {"text": "fake-model"})
    assert all(o.skipped for o in again.values()) and len(fake_server.chat_calls()) == calls


def test_end_to_end_with_embedded_model(tmp_path: Path, demo_data: Path, embedded_engine) -> None:
    generation = GenerationConfig(per_figure={t: 1 for t in TASKS}, max_tokens=96)
    inputs = demo_data / "demo" / "demo-002"  # two compound figures (2 and 4 lettered panels)
    outcomes, result = build(tmp_path / "out", inputs, embedded_engine, generation, {"text": "smollm2-135m"}, tokens=128)
    out = tmp_path / "out"
    for task in TASKS:
        o = outcomes[f"qa.{task}"]
        assert o.rows + o.rejects > 0, task  # every task planned something and accounted for it
        deleaked = read_all(out / "deleaked" / task, QARow)
        assert len(deleaked) == o.rows
        assert all(r.leakage_before is not None and r.leakage_after <= r.leakage_before + 1e-9 for r in deleaked)
    # geometry answers and rule fallbacks never depend on the small model's phrasing
    assert result.rows_out["bbox_qa"] > 0 and result.rows_out["mcq_selection"] > 0
    for row in read_all(out / "final" / "bbox_qa", QARow):
        assert row.provenance.template_name in ("bbox_qa", "bbox_qa.rule")
    assert (out / "stats.json").is_file()
