"""Helpers for the reliability tests: a deterministic fake-server responder, engine settings with
tiny backoff, the `pmc-instruct` CLI as a subprocess, and a comparable dump of an output folder."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.engine.settings import EngineSettings, ModelRole

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from flows.cli import app; app()"]
# Per-run measurements in provenance: they legitimately differ between an interrupted and an
# uninterrupted run (a resumed run answers from the cache: cache_hit=True, attempts=0, other latency).
RUN_MEASUREMENTS = frozenset({"latency_s", "attempts", "cache_hit"})


def _load_e2e_responder():
    """Reuse the cooperative per-template responder of tests/exports/test_e2e.py (answers depend only
    on the request body, so two runs of the same build get the same answers)."""
    spec = importlib.util.spec_from_file_location("_e2e_responders", REPO / "tests" / "exports" / "test_e2e.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.responder_for


responder_for = _load_e2e_responder()


def role(base_url: str, model: str = "fake", **kw: Any) -> ModelRole:
    kw = {"max_attempts": 3, "backoff_initial_s": 0.0, "backoff_max_s": 0.05, "timeout_s": 10.0,
          "endpoint_cooldown_s": 0.0, **kw}
    return ModelRole(backend="openai", base_urls=[base_url], model=model, **kw)


def settings(base_url: str, **kw: Any) -> EngineSettings:
    text = role(base_url, **kw)
    return EngineSettings(text=text, vision=text.model_copy(update={"model": "fake-vl"}))


def cli_env(prefect_home: Path | dict, **extra: str) -> dict[str, str]:
    """Environment for a `pmc-instruct` subprocess: a PREFECT_HOME (or the `prefect_api` fixture's
    server: its home and API URL), small retry backoff."""
    api = None
    if isinstance(prefect_home, dict):
        prefect_home, api = prefect_home["home"], prefect_home["url"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMC_INSTRUCT_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONPATH=str(REPO),
               PMC_INSTRUCT_TEXT__BACKOFF_INITIAL_S="0", PMC_INSTRUCT_TEXT__BACKOFF_MAX_S="0.05",
               PMC_INSTRUCT_VISION__BACKOFF_INITIAL_S="0", PMC_INSTRUCT_VISION__BACKOFF_MAX_S="0.05")
    if api:
        env["PREFECT_API_URL"] = api
    env.update(extra)
    return env


def build_args(inputs: Path, out: Path, base_url: str, *more: str, shard_size: int = 4) -> list[str]:
    return [*CLI, "build", "--input", str(inputs), "--out", str(out), "--base-url", base_url, "--model", "fake",
            "--vision-base-url", base_url, "--vision-model", "fake-vl", "--shard-size", str(shard_size), *more]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _strip(value: Any, out_dir: str) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, out_dir) for k, v in value.items() if k not in RUN_MEASUREMENTS}
    if isinstance(value, list):
        return [_strip(v, out_dir) for v in value]
    if isinstance(value, str):
        return value.replace(out_dir, "<out>")
    return value


def parquet_tables(out: Path) -> dict[str, list[dict]]:
    """Every Parquet file under `out` (relative path -> rows in file order), run measurements
    removed from provenance structs and the output folder's own path replaced by <out>."""
    out = Path(out)
    tables = {}
    for path in sorted(out.rglob("*.parquet")):
        rel = path.relative_to(out).as_posix()
        if rel.startswith((".prefect/", "cache/", "versions/")):
            continue
        tables[rel] = [_strip(r, str(out.resolve())) for r in pq.read_table(path).to_pylist()]
    return tables


def jsonl_exports(out: Path) -> dict[str, list[Any]]:
    out = Path(out)
    return {p.relative_to(out).as_posix(): [_strip(json.loads(line), str(out.resolve()))
                                            for line in p.read_text().splitlines() if line.strip()]
            for p in sorted((out / "export").rglob("*.jsonl"))}


def cache_hashes(out: Path) -> set[str]:
    import sqlite3

    path = Path(out) / "cache" / "responses.sqlite"
    if not path.exists():
        return set()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT request_hash FROM responses")}
    finally:
        conn.close()


def body_key(body: dict) -> str:
    return json.dumps(body, sort_keys=True)
