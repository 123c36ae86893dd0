"""`pmc-instruct build --runner dask` (a LocalCluster of two worker processes, each building its own
engine) against the session's Prefect server produces the same rows as the default thread runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prefect_procs import REPO, model_args

from pipeline.ingest.config import IngestConfig
from pipeline.io.parquet import read_all
from schemas import Figure, KnowledgeRow, PerceptionRow, QARow, Reject, SummaryRow

pytestmark = pytest.mark.slow

SHARD_SIZE = 8  # 15 figures (24 with the shared articles) -> 2-3 shards: both workers busy, few task runs
TABLES = (("figures", Figure), ("summaries", SummaryRow), ("knowledge", KnowledgeRow), ("perception", PerceptionRow))


def _build(env: dict, input_dir: Path, out: Path, server, *extra: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "flows.cli", "build", "--input", str(input_dir), "--out", str(out),
            "--shard-size", str(SHARD_SIZE), "--vision-base-url", server.base_url, "--vision-model", "fake-vlm",
            *model_args(server), *extra]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def _tables(out: Path) -> list[tuple[str, type]]:
    """Stage 1-3 tables plus every QA table after de-leaking and the gates (final/<task>)."""
    qa = [(f"{group}/{d.name}", QARow) for group in ("deleaked", "final")
          for d in sorted((out / group).glob("*")) if d.is_dir()]
    return [*TABLES, *qa]


def _rows(out: Path) -> dict[str, list]:
    """Every row, keyed for comparison; provenance keeps what the answer depends on, not timings."""
    found = {}
    for table, model in _tables(out):
        rows = []
        for row in read_all(out / table, model):
            data = row.model_dump(mode="json")
            prov = data.pop("provenance", None)
            if prov:
                data["provenance"] = {k: prov.get(k) for k in ("method", "model_id", "template_name",
                                                               "template_version", "request_hash")}
            rows.append(json.dumps(data, sort_keys=True).replace(str(out), "<out>"))  # crop paths
        found[table] = sorted(rows)
    found["rejects"] = sorted(f"{r.stage}|{r.item}|{r.reason}" for stage in sorted((out / "rejects").glob("*"))
                              for r in read_all(stage, Reject))
    return found


def test_dask_runner_matches_thread_runner(prefect_server, model_server, tmp_path, real_jats, demo_data):
    from build_helpers import make_input

    input_dir = make_input(tmp_path, real_jats, demo_data)
    calls = len(model_server.chat_calls())
    # The default runner in this process (same server, same plan) saves a second CLI start-up.
    from build_helpers import config, openai_settings

    from flows.build import build_dataset

    with prefect_server.api():
        build_dataset(config(input_dir, tmp_path / "thread", openai_settings(model_server.base_url), stages=None,
                             ingest=IngestConfig(shard_size=SHARD_SIZE)))
    thread_calls = len(model_server.chat_calls()) - calls
    done = _build(prefect_server.env, input_dir, tmp_path / "dask", model_server,
                  "--runner", "dask", "--dask-workers", "2", "--cache-dir", str(tmp_path / "node-cache"))
    dask_calls = len(model_server.chat_calls()) - calls - thread_calls
    bodies = [json.dumps(c.body, sort_keys=True) for c in model_server.chat_calls()[calls:]]
    thread_asked, dask_asked = set(bodies[:thread_calls]), set(bodies[thread_calls:])

    thread, dask = _rows(tmp_path / "thread"), _rows(tmp_path / "dask")
    assert all(thread[t] for t in ("figures", "summaries", "knowledge", "perception"))
    assert any(t.startswith("final/") and rows for t, rows in thread.items())  # the whole plan ran
    assert dask == thread
    # Separate caches: each build asked for exactly the same distinct requests. Identical requests
    # from two shards are answered once when shards run one after another (the second is a cache
    # hit), but two Dask workers may send the same one at the same moment, before either cached it.
    assert dask_asked == thread_asked and thread_calls > 0
    assert dask_calls >= thread_calls
    assert (tmp_path / "node-cache" / "responses.sqlite").exists()  # --cache-dir, shared by both workers
    assert not (tmp_path / "dask" / "cache" / "responses.sqlite").exists()
    report = json.loads((tmp_path / "dask" / "_state" / "build-report.json").read_text())
    assert report["model_calls"] == dask_calls  # counted in the worker processes, summed by the flow
    assert sum(s["engine"].get("model_calls", 0) for s in report["steps"]) == dask_calls
    # It really ran on a two-process LocalCluster (distributed logs each worker's nanny).
    output = done.stdout + done.stderr
    assert output.count("Closing Nanny at") == 2, output[-3000:]
