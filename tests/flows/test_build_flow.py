"""The real `build-dataset` Prefect flow (ephemeral test server), with the fake OpenAI server and
with the embedded model, and the `pmc-instruct build` command."""

from __future__ import annotations

import time

import pytest
from build_helpers import Built, config, openai_settings, perception_targets
from typer.testing import CliRunner

from pipeline.engine.settings import EngineSettings
from schemas import Method

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def _task_states(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    # Task states reach the API asynchronously: under load a finished task can still read as
    # Running for a moment after the flow returns, so wait (bounded) until none is in flight.
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        states = {r.name: r.state.name for r in runs}
        if not {"Running", "Pending", "Scheduled"} & set(states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def _artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return found


def test_flow_with_fake_server_then_unchanged_rerun(build_input, fake_server, tmp_path):
    from flows.build import build_dataset

    out = tmp_path / "out"
    # The whole plan (stages 1-3, QA, de-leak, finalize, report): a rerun must still make no call.
    cfg = config(build_input, out, openai_settings(fake_server.base_url), limit=4, stages=None)
    state = build_dataset(cfg, return_state=True)
    first = state.result()
    calls = len(fake_server.chat_calls())
    assert state.is_completed() and first.model_calls == calls > 0
    built = Built(out)
    chosen = {f.figure_id for f in built.selected(4)}
    assert {r.figure_id for r in built.summaries} == {r.figure_id for r in built.knowledge} == chosen
    assert len(built.perception) == sum(perception_targets(f) for f in built.selected(4))
    assert all(r.provenance.method == Method.VISION_MODEL for r in built.perception)
    states = _task_states(state.state_details.flow_run_id)
    assert states["ingest"] == "Completed"
    assert {s for n, s in states.items() if n.startswith("summary/")} == {"Completed"}
    assert (out / "build-report.md").read_text().startswith("# Build report")
    assert any("| summary | 4 | 0 |" in a.data for a in _artifact("build-report"))

    state = build_dataset(cfg, return_state=True)
    second = state.result()
    assert len(fake_server.chat_calls()) == calls and second.model_calls == 0
    states = _task_states(state.state_details.flow_run_id)
    assert not [n for n in states if "/part-" in n]  # every shard settled from its marker, no task run
    assert all(s.skipped_shards == s.shards for s in second.steps if s.kind == "stage")
    for name in ("summary", "knowledge", "perception"):
        assert second.step(name).rows == first.step(name).rows


def test_flow_with_embedded_model(build_input, tmp_path):
    from flows.build import build_dataset

    out = tmp_path / "out"
    # Stages 1-3 in facts mode (no vision endpoint); SmolLM2-135M with short answers keeps this quick.
    cfg = config(build_input, out, EngineSettings(), limit=2, max_tokens=48)
    first = build_dataset(cfg)
    built = Built(out)
    chosen = built.selected(2)
    ids = {f.figure_id for f in chosen}
    assert first.model_calls > 0
    # Every item ends as a row or a reject (a tiny model may fail to fill a schema; that is a reject).
    for stage, rows, expected in (("summary", built.summaries, 2), ("knowledge", built.knowledge, 2),
                                  ("perception", built.perception, sum(perception_targets(f) for f in chosen))):
        rejects = built.rejects(stage)
        assert len(rows) + len(rejects) == expected, stage
        assert {r.figure_id for r in rows} | {r.figure_id for r in rejects} <= ids
        for r in rejects:
            assert r.detail and r.reason
    for row in built.summaries + built.knowledge + built.perception:
        assert row.provenance.backend == "embedded" and "SmolLM2-135M" in row.provenance.model_id
    assert {r.provenance.method for r in built.perception} <= {Method.MEASURED_FACTS}
    assert {r.figure_id for r in built.knowledge} <= {r.figure_id for r in built.summaries}

    second = build_dataset(cfg)
    assert second.model_calls == 0 and second.cache_hits == 0
    assert all(s.skipped_shards == s.shards for s in second.steps if s.kind == "stage")


def test_cli_build_prints_summary_and_paths(build_input, fake_server, tmp_path):
    from flows.cli import app

    out = tmp_path / "out"
    args = ["build", "--input", str(build_input), "--out", str(out), "--limit", "3", "--stages", "ingest,summary",
            "--base-url", fake_server.base_url, "--model", "fake-model", "--shard-size", "4"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "summary" in result.output and "model calls" in result.output
    assert str(out / "build-report.md") in result.output.replace("\n", "")
    assert len(Built(out).summaries) == 3 and len(fake_server.chat_calls()) == 3

    again = CliRunner().invoke(app, args, catch_exceptions=False)
    assert again.exit_code == 0 and len(fake_server.chat_calls()) == 3
    shards = len(list((out / "figures").glob("part-*.parquet")))
    assert f"{shards}/{shards}" in again.output  # skipped shards column: all of them

    bad = CliRunner().invoke(app, [*args[:7], "--stages", "summary,nonsense"])
    assert bad.exit_code == 2 and "nonsense" in bad.output


def test_cli_build_on_an_empty_input_folder_fails_cleanly(tmp_path):
    from flows.cli import app

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["build", "--input", str(empty), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "error: --input: no input files" in result.output
