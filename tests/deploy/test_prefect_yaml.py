"""prefect.yaml with a process work pool: `prefect deploy --all` registers the four deployments (the
rebuild with its cron schedule and the watched folders filled in from the environment), and a
worker runs a rebuild triggered with `prefect deployment run`, taking its model endpoint from the
worker's environment."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from prefect_procs import PREFECT, REPO, spawn, stop_group

from pipeline.io.parquet import read_all
from pipeline.build.versions import version_names
from schemas import Figure, SummaryRow

pytestmark = pytest.mark.slow

POOL = "pmc-instruct"
NAMES = ("build-dataset/rebuild", "build-dataset/build", "finetune/finetune", "evaluate/evaluate")


def _cli(args: list[str], env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run([*PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def deployed(prefect_server, model_server, tmp_path_factory, demo_data):
    root = tmp_path_factory.mktemp("pool")
    watch, out = root / "watch", root / "out"
    shutil.copytree(demo_data / "demo" / "demo-001", watch / "demo-001")
    env = {**prefect_server.env, "PMC_INSTRUCT_REPO": str(REPO), "PMC_INSTRUCT_WATCH": str(watch),
           "PMC_INSTRUCT_OUT": str(out)}
    yaml_before = (REPO / "prefect.yaml").read_text()
    _cli(["work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
    _cli(["--no-prompt", "deploy", "--all"], env)
    assert (REPO / "prefect.yaml").read_text() == yaml_before  # deploying must not rewrite the file
    worker_env = {**env, "PMC_INSTRUCT_TEXT__BACKEND": "openai", "PMC_INSTRUCT_TEXT__BASE_URLS": model_server.base_url,
                  "PMC_INSTRUCT_TEXT__MODEL": "fake-model"}
    log = root / "worker.log"
    worker = spawn([*PREFECT, "worker", "start", "--pool", POOL, "--type", "process"], worker_env, log)
    try:
        yield {"watch": watch, "out": out, "env": env, "log": log}
    finally:
        stop_group(worker)
        # Leave the session's server as the serve tests expect it: no pool deployments or their runs.
        with prefect_server.api():
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                for name in NAMES:
                    client.delete_deployment(client.read_deployment_by_name(name).id)


def test_prefect_deploy_registers_the_yaml_deployments(deployed, prefect_server):
    with prefect_server.api():
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            found = {name: client.read_deployment_by_name(name) for name in NAMES}
    rebuild = found["build-dataset/rebuild"]
    assert [s.schedule.cron for s in rebuild.schedules] == ["0 * * * *"]
    assert rebuild.parameters == {"config": {"input_dir": str(deployed["watch"]), "out_dir": str(deployed["out"])}}
    assert rebuild.global_concurrency_limit.limit == 1
    assert rebuild.concurrency_options.collision_strategy == "CANCEL_NEW"
    for d in found.values():
        assert d.work_pool_name == POOL
        assert d.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]


def test_worker_runs_a_rebuild_triggered_from_the_cli(deployed, model_server):
    before = len(model_server.chat_calls())
    done = _cli(["deployment", "run", "build-dataset/rebuild", "--watch"], deployed["env"], timeout=240)
    assert "Completed" in done.stdout, done.stdout[-2000:] + deployed["log"].read_text(errors="replace")[-3000:]
    out = deployed["out"]
    figures = read_all(out / "figures", Figure)
    assert figures and {s.figure_id for s in read_all(out / "summaries", SummaryRow)} == {f.figure_id for f in figures}
    report = json.loads((out / "_state" / "build-report.json").read_text())
    assert report["model_calls"] == len(model_server.chat_calls()) - before > 0
    assert version_names(out) == ["v0001"]
