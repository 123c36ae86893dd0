"""`pmc-instruct serve` against a real Prefect server: the deployments appear, the rebuild's cron
schedule is registered and produces scheduled runs, a run triggered through the API builds the
dataset, and a rebuild after an article is added to the watched folder calls the model for that
article only, leaves every earlier shard file untouched and records a new dataset version."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from prefect_procs import model_args, spawn, stop_group, wait_until

from pipeline.io.parquet import read_all
from pipeline.build.versions import load_version, version_names
from schemas import Figure, KnowledgeRow, Reject, SummaryRow

pytestmark = pytest.mark.slow

CRON = "0 0 1 1 *"  # registered and materialised as scheduled runs, but never due during a test
FIRST = ("demo/demo-001", "formats/m3llm")  # our JATS article and our M3LLM records
REAL = "jats/ctsz-prostate-cancer"  # added to the first build when ../shared/data is there
FIRST_ARTICLES = {"PMC900001", "PMC900121"}
REAL_ARTICLE = "10.1590/1414-431X2021e11439"
ADDED = "demo/demo-002"
NEW_ARTICLE = "PMC900002"
SECRET = "sk-deploy-test-secret-4711"
DEPLOYMENTS = ("build-dataset/rebuild", "build-dataset/build", "finetune/finetune", "evaluate/evaluate")


def _copy(src_root: Path, rel: str, dest_root: Path) -> None:
    shutil.copytree(src_root / rel.split("/", 1)[1], dest_root / rel)


@pytest.fixture(scope="module")
def served(prefect_server, model_server, tmp_path_factory, real_jats, demo_data):
    root = tmp_path_factory.mktemp("serve")
    watch, out = root / "watch", root / "out"
    for rel in FIRST:
        _copy(demo_data / rel.split("/")[0], rel, watch)
    if real_jats is not None:
        _copy(real_jats, REAL, watch)
    args = [sys.executable, "-m", "flows.cli", "serve", "--input", str(watch), "--out", str(out), "--cron", CRON,
            "--stages", "ingest,summary,knowledge", "--shard-size", "4", *model_args(model_server)]
    log = root / "serve.log"
    proc = spawn(args, {**prefect_server.env, "PMC_INSTRUCT_API_KEY": SECRET}, log)
    try:
        with prefect_server.api():
            from prefect.client.orchestration import get_client

            def all_there() -> bool:
                with get_client(sync_client=True) as client:
                    names = {d.name for d in client.read_deployments()}
                return {"rebuild", "build", "finetune", "evaluate"} <= names

            wait_until(all_there, 120, "served deployments", proc, log)
        yield {"watch": watch, "out": out, "log": log, "proc": proc}
    finally:
        stop_group(proc)


def _run(prefect_server, name: str, log: Path):
    with prefect_server.api():
        from prefect.deployments import run_deployment

        run = run_deployment(name, timeout=180, poll_interval=1)
    assert run.state.is_completed(), f"{name}: {run.state}\n{log.read_text(errors='replace')[-3000:]}"
    return run


def _report(out: Path) -> dict:
    return json.loads((out / "_state" / "build-report.json").read_text())


def _check_observability(prefect_server, out: Path, run) -> None:
    """The run's table artifact (per-step timings and engine counters) and JSON-lines log."""
    report = _report(out)
    with prefect_server.api():
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["build-timings"]), flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    assert len(found) == 1 and found[0].type == "table"
    table = found[0].data if isinstance(found[0].data, list) else json.loads(found[0].data)
    rows = {r["step"]: r for r in table}
    assert set(rows) == {"ingest", "summary", "knowledge", "total"}
    assert rows["summary"]["model calls"] == next(s["model_calls"] for s in report["steps"] if s["name"] == "summary")
    assert rows["total"]["model calls"] == report["model_calls"] and rows["summary"]["tokens out"] > 0

    [log] = [p for p in (out / "logs").glob("build-*.jsonl") if str(run.id)[:8] in p.name]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(line["flow_run_id"] == str(run.id) for line in lines if "flow_run_id" in line)
    events = [line for line in lines if line.get("event")]
    shards = [e["data"] for e in events if e["event"] == "shard"]
    # one event per (stage, shard) of this first build: every figure shard, as many as its input makes
    figure_shards = sorted(p.name for p in (out / "figures").glob("part-*.parquet"))
    assert figure_shards and sorted((s["stage"], s["shard"]) for s in shards) == [
        (stage, shard) for stage in ("knowledge", "summary") for shard in figure_shards]
    assert sum(s["engine"]["model_calls"] for s in shards) == report["model_calls"]
    [end] = [e["data"] for e in events if e["event"] == "run"]
    assert end["model_calls"] == report["model_calls"] and end["engine"]["requests"] >= end["model_calls"]
    assert any(line["logger"] == "prefect.task_runs" for line in lines)  # Prefect's own run logs too


def test_deployments_and_cron_schedule_are_registered(served, prefect_server):
    with prefect_server.api():
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName

        with get_client(sync_client=True) as client:
            found = {name: client.read_deployment_by_name(name) for name in DEPLOYMENTS}
            rebuild = found["build-dataset/rebuild"]
            assert [s.schedule.cron for s in rebuild.schedules] == [CRON]
            assert all(s.active for s in rebuild.schedules)
            assert rebuild.global_concurrency_limit.limit == 1  # one rebuild at a time
            assert rebuild.concurrency_options.collision_strategy == "CANCEL_NEW"
            assert not found["build-dataset/build"].schedules
            params = rebuild.parameters["config"]
            assert params["input_dir"] == str(served["watch"]) and params["out_dir"] == str(served["out"])
            assert params["stages"] == ["ingest", "summary", "knowledge"]
            assert SECRET not in json.dumps(params)  # the key stays in the serving process's env
            # The UI form comes from the pydantic parameter models.
            for name, model in (("build-dataset/build", "BuildConfig"), ("finetune/finetune", "TrainConfig"),
                                ("evaluate/evaluate", "EvalConfig")):
                schema = found[name].parameter_openapi_schema
                assert schema["properties"]["config"]["$ref"].endswith(model), name

            def scheduled():
                return client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[rebuild.id])),
                    flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Scheduled"]))),
                )

            runs = wait_until(scheduled, 60, "scheduled rebuild runs")
    assert all(r.expected_start_time.month == 1 and r.expected_start_time.day == 1 for r in runs)


def test_triggered_rebuild_processes_only_the_added_article(served, prefect_server, model_server, demo_data, real_jats):
    out, watch = served["out"], served["watch"]
    before_calls = len(model_server.chat_calls())
    first_run = _run(prefect_server, "build-dataset/rebuild", served["log"])
    first_calls = len(model_server.chat_calls()) - before_calls
    figures = read_all(out / "figures", Figure)
    summaries = read_all(out / "summaries", SummaryRow)
    assert {f.article_id for f in figures} == FIRST_ARTICLES | ({REAL_ARTICLE} if real_jats else set())
    assert {s.figure_id for s in summaries} == {f.figure_id for f in figures}
    assert first_calls == _report(out)["model_calls"] > 0
    assert version_names(out) == ["v0001"]
    v1 = load_version(out, "v0001")
    assert v1.counts["summaries"] == len(summaries) and v1.counts["figures"] == len(figures)
    assert v1.config["input_dir"] == str(watch) and v1.code["package"]
    _check_observability(prefect_server, out, first_run)

    _copy(demo_data / "demo", ADDED, watch)
    mark = len(model_server.chat_calls())
    _run(prefect_server, "build-dataset/rebuild", served["log"])
    new_calls = model_server.chat_calls()[mark:]

    figures2 = read_all(out / "figures", Figure)
    added = {f.figure_id for f in figures2 if f.article_id == NEW_ARTICLE}
    assert added and {f.figure_id for f in figures2} - added == {f.figure_id for f in figures}
    summaries2 = read_all(out / "summaries", SummaryRow)
    knowledge2 = read_all(out / "knowledge", KnowledgeRow)
    assert {s.figure_id for s in summaries2} == {f.figure_id for f in figures2}
    # Every model call of the rebuild was for an item of the new article: one per summary or
    # knowledge row (or reject) of its figures, and nothing for the earlier ones.
    items = [r for r in summaries2 + knowledge2 if r.figure_id in added]
    items += [r for stage in ("summary", "knowledge") for r in read_all(out / "rejects" / stage, Reject)
              if r.figure_id in added]
    assert len(new_calls) == len(items) == _report(out)["model_calls"] > 0
    report = _report(out)
    for step in report["steps"]:
        if step["kind"] == "stage":
            assert step["skipped_shards"] == step["shards"] - 1, step  # only the new shard ran

    # v0002 adds files; every file v0001 recorded is byte-identical in v0002 (nothing recomputed).
    assert version_names(out) == ["v0001", "v0002"]
    v2 = load_version(out, "v0002")
    assert v2.previous == "v0001" and v2.counts["figures"] == len(figures2)
    for rel, entry in v1.files.items():
        assert v2.files[rel].sha256 == entry.sha256, rel
    assert set(v2.files) > set(v1.files)
    assert all(v1.object_path(out, rel).exists() for rel in v1.files)

    # Nothing new: no model call and no new version.
    mark = len(model_server.chat_calls())
    _run(prefect_server, "build-dataset/rebuild", served["log"])
    assert len(model_server.chat_calls()) == mark and _report(out)["model_calls"] == 0
    assert version_names(out) == ["v0001", "v0002"] and _report(out)["new_version"] is False


def test_on_demand_build_deployment_takes_parameters(served, prefect_server, model_server, tmp_path, demo_data):
    src = tmp_path / "in"
    shutil.copytree(demo_data / "demo" / "demo-003", src / "demo-003")
    out = tmp_path / "out"
    config = {"input_dir": str(src), "out_dir": str(out), "stages": ["ingest", "summary"],
              "engine": {"text": {"backend": "openai", "base_urls": [model_server.base_url], "model": "fake-model"}}}
    with prefect_server.api():
        from prefect.deployments import run_deployment

        run = run_deployment("build-dataset/build", parameters={"config": config}, timeout=180, poll_interval=1)
    assert run.state.is_completed(), f"{run.state}\n{served['log'].read_text(errors='replace')[-3000:]}"
    figures = read_all(out / "figures", Figure)
    assert figures and {s.figure_id for s in read_all(out / "summaries", SummaryRow)} == {f.figure_id for f in figures}
