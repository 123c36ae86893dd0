"""A build of our demo sample through the fake server, whose model is careless the way small models
are (tests/fakes/careless_model.py): the generated rows hold every defect kind found by reading a
real demo build, and the final (kept) rows hold none of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from defects import defects
from fakes.careless_model import fault_for, responder_for, truncate_cut_answers
from fakes.openai_server import FakeOpenAIServer

from pipeline.build.report import BuildReport
from pipeline.deleak import DeleakConfig
from pipeline.engine import ModelRole, build_engine, load_settings
from pipeline.finalize import run_finalize
from pipeline.generators import GenerationConfig
from pipeline.ingest import run_ingest
from pipeline.io.parquet import list_shards, read_all
from pipeline.build import finalize_config, qa_stages
from pipeline.stages.knowledge import KnowledgeStage
from pipeline.stages.perception import PerceptionStage
from pipeline.stages.runner import figure_shards, run_stage_shard
from pipeline.stages.summary import SummaryStage
from schemas import QARow

pytestmark = pytest.mark.slow
TASKS = ["bbox_qa", "compound_qa", "mcq_selection", "multi_panel_qa", "single_panel_qa", "text_qa"]


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory, demo_data: Path) -> Path:
    out = tmp_path_factory.mktemp("demo-build") / "out"
    with FakeOpenAIServer(fault_for=fault_for) as server:
        server.responder = truncate_cut_answers(responder_for(server))
        role = ModelRole(backend="openai", base_urls=[server.base_url], model="fake-model", timeout_s=10)
        engine = build_engine(load_settings(text=role), out / "cache")
        generation = GenerationConfig(per_figure={t: 3 for t in TASKS})
        run_ingest(demo_data / "demo", out)
        for shard in figure_shards(out):
            stages = [SummaryStage(), KnowledgeStage(), PerceptionStage("facts")]
            stages += qa_stages(generation, DeleakConfig(threshold=0.35))
            for stage in stages:
                run_stage_shard(stage, out, shard, engine, {"text": "fake-model"})
    run_finalize(out, finalize_config(generation))
    return out


def _rows(out: Path, table: str) -> list[QARow]:
    return [r for t in TASKS if list_shards(out / table / t) for r in read_all(out / table / t, QARow)]


def test_kept_rows_hold_none_of_the_defects(demo_build: Path) -> None:
    generated = _rows(demo_build, "deleaked")
    kinds = {k.split(" as in ")[0] for ks in defects(generated).values() for k in ks}
    # the careless model did produce the defects (else this test could not fail)
    assert {"prompt echo", "generic or broken question", "answer cut at max_tokens"} <= kinds
    final = _rows(demo_build, "final")
    assert final and defects(final) == {}
    # text-only rows are not de-leaked (they have no image to answer from), so good ones are kept
    assert any(r.task == "text_qa" and r.context == r.context_original for r in final)


def test_keep_rate_is_the_headline(demo_build: Path) -> None:
    stats = json.loads((demo_build / "stats.json").read_text())
    generated = sum(t["generated"] for t in stats["tasks"])
    assert stats["total_generated"] == generated and stats["keep_rate"] == round(stats["total_final"] / generated, 4)
    assert stats["models"] == ["fake-model", "rule"] or stats["models"] == ["fake-model"]
    for t in stats["tasks"]:
        dropped = sum(t["rejected_by_gate"].values())
        assert t["final"] <= t["generated"] and (t["keep_rate"] is None or 0 <= t["keep_rate"] <= 1)
        assert dropped >= 0
    text_qa = next(t for t in stats["tasks"] if t["task"] == "text_qa")
    assert {"generic", "echo"} & set(text_qa["rejected_by_gate"])
    report = BuildReport(out_dir=str(demo_build))
    report.add_keep_rates(demo_build)
    markdown = report.to_markdown()
    assert f"**Kept {stats['total_final']} of {generated} generated rows" in markdown and "`fake-model`" in markdown
    assert "meta_eval.json" in markdown
