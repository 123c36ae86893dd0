"""Stage planning without any model: prompt budgets, what each stage asks for, rejects it plans."""

from __future__ import annotations

import pytest
from build_helpers import copy_prompts, perception_targets

from pipeline.ingest import run_ingest
from pipeline.ingest.config import IngestConfig
from pipeline.io.parquet import list_shards
from pipeline.stages.base import ShardInputs, WorkItem
from pipeline.stages.common import budget, clip
from pipeline.stages.knowledge import KnowledgeStage
from pipeline.stages.perception import PerceptionOptions, PerceptionStage
from pipeline.stages.summary import SummaryOptions, SummaryStage
from schemas import Reject, RejectReason


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, build_input):
    """Our demo articles and format samples (and the shared JATS articles when present), one shard."""
    out = tmp_path_factory.mktemp("plans") / "out"
    run_ingest(build_input, out, IngestConfig(shard_size=100, ramp_shards=False))
    return out


def _inputs(out) -> ShardInputs:
    (shard,) = list_shards(out / "figures")
    return ShardInputs(out, shard.name)


def test_clip_cuts_at_a_sentence_then_a_word():
    text = "The first sentence is here. The second one is a bit longer than the first. Third."
    assert clip(text, 200) == text
    assert clip(text, 50) == "The first sentence is here. ..."  # a sentence end when it keeps half
    assert clip(text, 60) == "The first sentence is here. The second one is a bit ..."
    assert clip("word " * 40, 23) == "word word word word ..."
    assert len(clip("x" * 500, 100)) <= 100


def test_budget_keeps_order_and_total():
    texts = ["a" * 900, "b " * 300, "c " * 300]
    out = budget(texts, total=1000, each=400)
    assert out[0].startswith("aaa") and len(out[0]) <= 400
    assert sum(len(t) for t in out) <= 1000 and len(out) == 3
    assert budget(texts, total=300, each=400)[0].startswith("aaa") and len(budget(texts, 300, 400)) == 1


def test_summary_prompt_holds_caption_title_and_budgeted_mentions(ingested):
    stage = SummaryStage(SummaryOptions(mention_chars=600, mention_each_chars=300))
    inputs = _inputs(ingested)
    items = [i for i in stage.plan(inputs) if isinstance(i, WorkItem)]
    assert len(items) == len(inputs.figures) >= 15  # every figure has a caption
    for item in items:
        fig = item.context
        user = item.request.messages[-1].text
        assert fig.caption[:60] in " ".join(user.split())
        if fig.article_title:
            assert fig.article_title[:40] in user
        mention_lines = [ln for ln in user.splitlines() if ln.startswith("- ")]
        assert 0 < sum(len(ln) - 2 for ln in mention_lines) <= 600
        assert item.request.template.name == "summary" and item.request.output_model.__name__ == "CaptionSummaryOutput"


def test_knowledge_without_summaries_plans_only_rejects(ingested):
    planned = list(KnowledgeStage().plan(_inputs(ingested)))
    assert planned and all(isinstance(p, Reject) and p.reason == RejectReason.MISSING_INPUT for p in planned)
    assert all(p.figure_id in p.detail for p in planned)


@pytest.mark.parametrize("mode", ["facts", "vision"])
def test_perception_plans_panels_and_figure(ingested, mode):
    stage = PerceptionStage(mode)
    inputs = _inputs(ingested)
    items = [i for i in stage.plan(inputs) if isinstance(i, WorkItem)]
    assert len(items) == sum(perception_targets(f) for f in inputs.figures)
    for item in items:
        req = item.request
        images = req.messages[-1].images
        if mode == "vision":
            assert req.role == "vision" and len(images) == 1 and req.template.name == "perception_vision"
        else:
            assert req.role == "text" and not images and req.template.name == "perception_facts"
            assert "Measured facts" in req.messages[-1].text
    assert (ingested / "crops").is_dir()
    # measured facts ride along in facts mode; in vision mode only when asked for
    assert all((item.context.facts is not None) == (mode == "facts") for item in items)


def test_perception_measures_facts_with_vision_when_asked(ingested):
    stage = PerceptionStage("vision", PerceptionOptions(measure_facts_with_vision=True))
    items = [i for i in stage.plan(_inputs(ingested)) if isinstance(i, WorkItem)]
    assert items and all(i.context.facts is not None and i.context.facts.width > 0 for i in items)
    assert stage.config_hash({}) != PerceptionStage("vision").config_hash({})


def test_config_hash_follows_template_version_and_mode(tmp_path):
    prompts = copy_prompts(tmp_path / "prompts")
    ids = {"text": "embedded:x"}
    before = SummaryStage(prompts_dir=prompts).config_hash(ids)
    assert SummaryStage(prompts_dir=prompts).config_hash(ids) == before
    assert SummaryStage(prompts_dir=prompts).config_hash({"text": "openai:y"}) != before
    text = (prompts / "summary.yaml").read_text().replace('version: "1"', 'version: "7"')
    (prompts / "summary.yaml").write_text(text)
    assert SummaryStage(prompts_dir=prompts).config_hash(ids) != before
    assert PerceptionStage("facts").config_hash(ids) != PerceptionStage("vision").config_hash(ids)


def test_config_hash_follows_the_code_version(monkeypatch):
    ids = {"text": "embedded:x"}
    before = SummaryStage().config_hash(ids)
    monkeypatch.setattr(SummaryStage, "version", str(int(SummaryStage.version) + 1))
    assert SummaryStage().config_hash(ids) != before
    assert KnowledgeStage().config_hash(ids) == KnowledgeStage().config_hash(ids)


def test_one_reason_per_failure():
    from pipeline.engine.types import ChatResult, ErrorKind
    from pipeline.stages.common import result_reject
    from schemas import Figure, Method, Provenance

    fig = Figure(figure_id="a/f1", article_id="a", caption="x", has_image=False, source_format="jats",
                 source_path="a.xml")
    item = WorkItem("a_f1", None)

    def failed(kind, error="boom", parsed=None):
        return ChatResult(key="a_f1", text="raw", error=error, error_kind=kind, parsed=parsed,
                          provenance=Provenance(method=Method.TEXT_MODEL))

    assert result_reject("summary", item, fig, None).reason is RejectReason.STAGE_ERROR
    assert result_reject("summary", item, fig, failed(ErrorKind.MODEL_ERROR)).reason is RejectReason.MODEL_ERROR
    assert result_reject("summary", item, fig, failed(ErrorKind.UNPARSEABLE)).reason is RejectReason.MODEL_UNPARSEABLE
    assert result_reject("summary", item, fig, failed(ErrorKind.IMAGE_MISSING)).reason is RejectReason.IMAGE_MISSING
    assert result_reject("summary", item, fig, failed(ErrorKind.IMAGE_CORRUPT)).reason is RejectReason.IMAGE_CORRUPT
    assert result_reject("summary", item, fig, failed(None, error=None)).reason is RejectReason.MODEL_UNPARSEABLE
    assert result_reject("summary", item, fig, failed(None, error=None, parsed=object())) is None


def test_rule_provenance_names_the_rule_and_the_code_version():
    from pipeline.stages.common import rule_provenance
    from schemas import Method

    prov = rule_provenance("bbox_qa.rule", "3", Method.GEOMETRY, attempts=2)
    assert (prov.method, prov.backend, prov.template_name, prov.template_version, prov.attempts) == (
        Method.GEOMETRY, "none", "bbox_qa.rule", "3", 2)


def test_a_prompt_filling_another_model_fails_at_load(tmp_path):
    from pipeline.prompts import TemplateError

    prompts = copy_prompts(tmp_path / "prompts")
    path = prompts / "summary.yaml"
    path.write_text(path.read_text().replace("schemas.stages.CaptionSummaryOutput", "schemas.stages.KnowledgeOutput"))
    with pytest.raises(TemplateError, match="CaptionSummaryOutput"):
        SummaryStage(prompts_dir=prompts).config_hash({})
    from pipeline.prompts import load_template

    assert load_template("judge_answer").output_class().__module__ == "schemas.evaluation"


def test_clip_takes_none_and_never_cuts_inside_a_word():
    assert clip(None, 10) == ""
    cut = clip("alpha beta gamma delta epsilon", 20)
    assert cut == "alpha beta gamma ..." and len(cut) <= 20
