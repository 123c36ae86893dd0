"""Stages 1-3 through pipeline.build.run_build (no Prefect) against the fake OpenAI server, on
our demo articles and format samples (plus the shared JATS articles when present)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from build_helpers import Built, bump_version, config, copy_prompts, openai_settings, perception_targets

from pipeline.build import run_build, select_figures
from pipeline.stages.runner import marker_path
from schemas import Method, PerceptionScope, RejectReason

pytestmark = pytest.mark.slow


def calls_by_template(server) -> dict[str, int]:
    out: dict[str, int] = {}
    for call in server.chat_calls():
        name = (call.template or "?").split("/")[0]
        out[name] = out.get(name, 0) + 1
    return out


def test_vision_build_rows_joins_and_provenance(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    report = run_build(config(build_input, out, openai_settings(fake_server.base_url), limit=6))
    built = Built(out)
    chosen = built.selected(6)
    ids = {f.figure_id for f in chosen}

    assert {r.figure_id for r in built.summaries} == ids  # the fake always answers validly
    assert {r.figure_id for r in built.knowledge} == ids
    assert {r.figure_id for r in built.perception} == ids
    assert len(built.perception) == sum(perception_targets(f) for f in chosen)
    assert report.step("summary").rows == 6 and report.step("summary").rejects == 0

    by_id = {f.figure_id: f for f in built.figures}
    for row in built.summaries + built.knowledge:
        assert row.article_id == by_id[row.figure_id].article_id
        assert row.provenance.method == Method.TEXT_MODEL
        assert row.provenance.model_id == "fake-model" and row.provenance.backend == "openai"
        assert row.provenance.request_hash and row.provenance.template_version == "1"
    assert {r.provenance.template_name for r in built.summaries} == {"summary"}
    assert {r.provenance.template_name for r in built.knowledge} == {"knowledge"}

    for row in built.perception:
        assert row.provenance.method == Method.VISION_MODEL
        assert row.provenance.template_name == "perception_vision"
        assert row.provenance.model_id == "fake-vlm"
        assert row.facts is None  # the model saw the pixels: no measuring unless asked for
        if row.scope == PerceptionScope.PANEL:
            assert row.panel_label in {p.label for p in by_id[row.figure_id].panels}
            assert row.image_path.startswith(str(out / "crops"))
            # a crop keeps its figure's coding: JPEG crops of a JPEG figure, PNG otherwise
            figure_suffix = Path(by_id[row.figure_id].image_path).suffix.lower()
            assert Path(row.image_path).suffix == (".jpg" if figure_suffix in (".jpg", ".jpeg") else ".png")
        else:
            assert row.panel_label is None and row.image_path == by_id[row.figure_id].image_path
    # Every vision request carried exactly one image; text requests carried none.
    for call in fake_server.chat_calls():
        images = [p for m in call.body["messages"] if isinstance(m.get("content"), list)
                  for p in m["content"] if p.get("type") == "image_url"]
        assert len(images) == (1 if call.template.startswith("perception_vision") else 0)


def test_facts_mode_without_vision_endpoint(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    run_build(config(build_input, out, openai_settings(fake_server.base_url, vision=False), limit=3,
                     stages=["ingest", "perception"]))
    built = Built(out)
    assert built.perception and not built.summaries  # only the stages asked for ran
    for row in built.perception:
        assert row.provenance.method == Method.MEASURED_FACTS
        assert row.provenance.template_name == "perception_facts"
        assert row.facts is not None
    # The facts went into the prompt as text, and no pixels were sent anywhere.
    prompts = [c.body["messages"][-1]["content"] for c in fake_server.chat_calls()]
    assert all(isinstance(p, str) and "Measured facts" in p and "pixels" in p for p in prompts)


def test_crops_are_shared_between_builds_and_named_by_content(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    run_build(config(build_input, out, openai_settings(fake_server.base_url), limit=2, stages=["ingest", "perception"]))
    crops = sorted((out / "crops").iterdir())
    assert crops and all(len(p.stem) == 64 for p in crops)
    import hashlib

    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.stem for p in crops)


def test_unchanged_rerun_makes_no_model_calls(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    cfg = config(build_input, out, openai_settings(fake_server.base_url), limit=5)
    first = run_build(cfg)
    calls = len(fake_server.chat_calls())
    assert first.model_calls == calls > 0
    second = run_build(cfg)
    assert len(fake_server.chat_calls()) == calls
    assert second.model_calls == 0
    for name in ("summary", "knowledge", "perception"):
        step = second.step(name)
        assert step.skipped_shards == step.shards > 0 and step.model_calls == 0
        assert step.rows == first.step(name).rows


def test_template_bump_reruns_that_stage_and_what_reads_it(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    prompts = copy_prompts(tmp_path / "prompts")
    cfg = config(build_input, out, openai_settings(fake_server.base_url), limit=4, prompts_dir=prompts)
    run_build(cfg)

    bump_version(prompts, "knowledge")
    fake_server.reset()
    report = run_build(cfg)
    assert set(calls_by_template(fake_server)) == {"knowledge"}
    assert report.step("summary").skipped_shards == report.step("summary").shards
    assert report.step("perception").skipped_shards == report.step("perception").shards
    assert report.step("knowledge").model_calls == 4
    assert {r.provenance.template_version for r in Built(out).knowledge} == {"2"}

    bump_version(prompts, "summary")  # knowledge reads summaries: it reruns too; perception does not
    fake_server.reset()
    report = run_build(cfg)
    assert calls_by_template(fake_server).get("summary") == 4
    knowledge = report.step("knowledge")
    # Redone, not skipped; the fake gives the same summary text, so its requests are identical to
    # last time's and come back from the response cache.
    assert knowledge.skipped_shards < knowledge.shards
    assert knowledge.model_calls + knowledge.cache_hits == 4 and knowledge.rows == 4
    perception = report.step("perception")
    assert perception.model_calls == perception.cache_hits == 0
    assert perception.skipped_shards == perception.shards


def test_answers_that_never_validate_become_rejects(build_input, fake_server, tmp_path):
    fake_server.register("summary", "Sorry, I can only answer in prose about this figure.")
    out = tmp_path / "out"
    report = run_build(config(build_input, out, openai_settings(fake_server.base_url), limit=3))
    built = Built(out)
    assert not built.summaries and not built.knowledge
    summary_rejects = built.rejects("summary")
    assert len(summary_rejects) == 3
    for r in summary_rejects:
        assert r.reason == RejectReason.MODEL_UNPARSEABLE and r.stage == "summary"
        assert "prose" in (r.raw or "") and r.figure_id in r.detail
    # Stage 2 needs the summary: each figure is a MISSING_INPUT reject, not a crash.
    knowledge_rejects = built.rejects("knowledge")
    assert {r.reason for r in knowledge_rejects} == {RejectReason.MISSING_INPUT}
    assert {r.figure_id for r in knowledge_rejects} == {r.figure_id for r in summary_rejects}
    assert report.step("perception").rows > 0  # unrelated stages carry on
    assert report.step("summary").reject_reasons == {"model-unparseable": 3}


def test_figure_without_image_gets_a_perception_reject(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    run_build(config(build_input, out, openai_settings(fake_server.base_url), stages=["ingest", "perception"]))
    built = Built(out)
    imageless = [f for f in built.figures if not f.has_image]
    assert imageless, "the demo set has a figure without an image"
    rejects = {r.figure_id: r for r in built.rejects("perception")}
    for fig in imageless:
        assert rejects[fig.figure_id].reason == RejectReason.MISSING_INPUT
        assert "no image" in rejects[fig.figure_id].detail
        assert not [r for r in built.perception if r.figure_id == fig.figure_id]
    assert len(built.perception) == sum(perception_targets(f) for f in built.figures)


def test_limit_is_first_n_ids_and_new_articles_are_the_only_new_work(build_input, fake_server, tmp_path):
    inp = tmp_path / "input"
    shutil.copytree(build_input, inp, ignore=shutil.ignore_patterns("demo-004"))
    out = tmp_path / "out"
    cfg = config(inp, out, openai_settings(fake_server.base_url), stages=["ingest", "summary"])
    run_build(cfg)
    selection = select_figures(out, 5)
    assert sorted(i for ids in selection.values() for i in ids) == sorted(f.figure_id for f in Built(out).figures)[:5]
    shards_before = {p.name: p.read_bytes() for p in (out / "summaries").iterdir()}
    markers_before = {s: marker_path_text(out, s) for s in shards_before}

    shutil.copytree(build_input / "demo" / "demo-004", inp / "demo" / "demo-004")  # a new article
    fake_server.reset()
    report = run_build(cfg)
    new_ids = {f.figure_id for f in Built(out).figures if f.article_id == "PMC900004"}
    assert len(fake_server.chat_calls()) == len(new_ids) > 0
    step = report.step("summary")
    assert step.shards == len(shards_before) + 1 and step.skipped_shards == len(shards_before)
    for shard, data in shards_before.items():  # old shards untouched
        assert (out / "summaries" / shard).read_bytes() == data
        assert marker_path_text(out, shard) == markers_before[shard]


def marker_path_text(out, shard):
    from pipeline.stages.summary import SummaryStage

    return marker_path(SummaryStage(), out, shard).read_text()
