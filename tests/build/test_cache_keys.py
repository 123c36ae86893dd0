"""Cache keys that track the output exactly, on real builds (pipeline.build.run_build, no Prefect)
against the fake OpenAI server: the sampling overrides reach every model step, one generator's
settings rerun that task only, a stage's code version reruns it and what reads its output, and
--force reruns a stage with its answers taken from the response cache."""

from __future__ import annotations

import pytest
from build_helpers import STAGES_1_3, config, openai_settings

from pipeline.build import BuildConfig, ReportStep, run_build, stage_plan
from pipeline.deleak import DeleakConfig
from pipeline.generators import GenerationConfig, generator_names
from pipeline.stages.summary import SummaryStage

pytestmark = pytest.mark.slow

QA = {"question": "What does the treatment change in this figure?", "answer": "It raises the measured values."}
MODEL_QA = ("text_qa", "single_panel_qa", "multi_panel_qa", "compound_qa")
UP_TO_QA = [*STAGES_1_3, "qa"]


def sampled(server) -> dict[str, set[tuple]]:
    """(max_tokens, temperature, seed) of the requests the server received, by template."""
    out: dict[str, set[tuple]] = {}
    for call in server.chat_calls():
        body = call.body
        out.setdefault(call.template.split("/")[0], set()).add(
            (body.get("max_tokens"), body.get("temperature"), body.get("seed")))
    return out


def rerun_stages(report) -> set[str]:
    return {s.name for s in report.steps if s.kind == "stage" and s.skipped_shards < s.shards}


def test_sampling_overrides_reach_every_model_step(build_input, fake_server, tmp_path):
    for task in MODEL_QA:
        fake_server.register(task, QA)  # valid QAs with a context, so de-leakage has rows to rewrite
    cfg = config(build_input, tmp_path / "out", openai_settings(fake_server.base_url), limit=8,
                 stages=[*UP_TO_QA, "deleak"], max_tokens=40, temperature=0.3, seed=11,
                 deleak=DeleakConfig(threshold=0.0))
    run_build(cfg)
    seen = sampled(fake_server)
    expected = {"summary", "knowledge", "perception_vision", "deleak_context", *generator_names()}
    assert expected <= set(seen), sorted(seen)
    # 40 is under every generator's cap (bbox 64, mcq 48), so every request carries it
    assert all(values == {(40, 0.3, 11)} for values in seen.values()), seen


def test_max_tokens_default_is_each_steps_own(build_input, fake_server, tmp_path):
    run_build(config(build_input, tmp_path / "out", openai_settings(fake_server.base_url), limit=4,
                     stages=UP_TO_QA, tasks=["text_qa", "mcq_selection"]))
    tokens = {name: {v[0] for v in values} for name, values in sampled(fake_server).items()}
    assert tokens["summary"] == {384} and tokens["text_qa"] == {160} and tokens["mcq_selection"] == {48}


def test_one_generators_settings_rerun_that_task_only(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    settings = openai_settings(fake_server.base_url)
    run_build(config(build_input, out, settings, limit=8, stages=UP_TO_QA))
    again = run_build(config(build_input, out, settings, limit=8, stages=UP_TO_QA))
    assert rerun_stages(again) == set()

    changed = GenerationConfig(task_settings={"mcq_selection": {"options": 3}})
    report = run_build(config(build_input, out, settings, limit=8, stages=UP_TO_QA, generation=changed))
    assert rerun_stages(report) == {"qa.mcq_selection"}
    count = GenerationConfig(per_figure={**GenerationConfig().per_figure, "bbox_qa": 1}, task_settings=changed.task_settings)
    report = run_build(config(build_input, out, settings, limit=8, stages=UP_TO_QA, generation=count))
    assert rerun_stages(report) == {"qa.bbox_qa"}


def test_unknown_task_settings_fail_before_any_work(tmp_path):
    bad = GenerationConfig(task_settings={"mcq_selection": {"option": 3}})
    with pytest.raises(ValueError, match="option"):
        stage_plan(BuildConfig(input_dir=tmp_path, out_dir=tmp_path / "out", generation=bad))
    with pytest.raises(ValueError, match="no_such_task"):
        stage_plan(BuildConfig(input_dir=tmp_path, out_dir=tmp_path / "out",
                               generation=GenerationConfig(task_settings={"no_such_task": {}})))
    with pytest.raises(ValueError, match="extra"):
        GenerationConfig(mcq_options=3)  # a field that moved into task_settings is an error, not ignored


def test_code_version_reruns_the_stage_and_what_reads_it(build_input, fake_server, tmp_path, monkeypatch):
    out = tmp_path / "out"
    settings = openai_settings(fake_server.base_url)
    run_build(config(build_input, out, settings, limit=6))
    calls = len(fake_server.chat_calls())
    monkeypatch.setattr(SummaryStage, "version", str(int(SummaryStage.version) + 1))
    report = run_build(config(build_input, out, settings, limit=6))
    # summary reruns; knowledge reads summaries, whose bytes changed, so it reruns; perception does not
    assert rerun_stages(report) == {"summary", "knowledge"}
    assert report.model_calls == 0 and len(fake_server.chat_calls()) == calls  # same requests: cached answers
    assert report.step("summary").cache_hits == report.step("summary").rows + report.step("summary").rejects


def test_rule_code_version_is_in_the_provenance_and_reruns_its_task(build_input, fake_server, tmp_path, monkeypatch):
    from pipeline.generators.bbox_qa import RULE_TEMPLATE, BBoxQA
    from pipeline.io.parquet import read_all
    from schemas import QARow

    out = tmp_path / "out"
    settings = openai_settings(fake_server.base_url)
    run_build(config(build_input, out, settings, limit=8, stages=UP_TO_QA, tasks=["bbox_qa", "text_qa"]))
    monkeypatch.setattr(BBoxQA, "version", "5")
    report = run_build(config(build_input, out, settings, limit=8, stages=UP_TO_QA, tasks=["bbox_qa", "text_qa"]))
    assert rerun_stages(report) == {"qa.bbox_qa"}
    rows = read_all(out / "qa" / "bbox_qa", QARow)
    rule_rows = [r for r in rows if r.provenance.template_name == RULE_TEMPLATE]
    assert rule_rows and {r.provenance.template_version for r in rule_rows} == {"5"}


def test_force_reruns_a_stage_without_paid_calls(build_input, fake_server, tmp_path):
    out = tmp_path / "out"
    settings = openai_settings(fake_server.base_url)
    run_build(config(build_input, out, settings, limit=6))
    calls = len(fake_server.chat_calls())
    report = run_build(config(build_input, out, settings, limit=6, force=["perception"]))
    assert rerun_stages(report) == {"perception"}  # nothing reads perception among stages 1-3
    step = report.step("perception")
    assert step.rows > 0 and step.cache_hits == step.rows and step.model_calls == 0
    assert report.model_calls == 0 and len(fake_server.chat_calls()) == calls
    # forcing is deliberate: it reruns every time, the others stay skipped
    again = run_build(config(build_input, out, settings, limit=6, force=["perception"]))
    assert rerun_stages(again) == {"perception"}


def test_force_names_a_stage_its_plan_name_or_a_step(tmp_path):
    base = BuildConfig(input_dir=tmp_path, out_dir=tmp_path / "out", force=["qa.text_qa", "deleak", "report"])
    assert base.forces("qa.text_qa") and not base.forces("qa.bbox_qa")
    assert base.forces("deleak.bbox_qa") and not base.forces("summary")
    assert ReportStep(base).force
    stage_plan(base)
    with pytest.raises(ValueError, match="not a stage of this build"):
        stage_plan(base.model_copy(update={"force": ["sumary"]}))
    with pytest.raises(ValueError, match="not a stage of this build"):
        stage_plan(base.model_copy(update={"stages": ["ingest", "summary"], "force": ["knowledge"]}))
