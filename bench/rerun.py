"""Incremental rerun benchmark: a first build vs an unchanged rerun of the same build.

Prints both wall times, their ratio (target <= 0.10) and the rerun's model calls (target 0).
Input: the shared JATS articles plus the demo articles (copied to a temp folder); the whole plan
(ingest, stages 1-3, QA, de-leak, finalize, report) unless --stages names fewer.
Backends:
  --backend fake      (default) the fake OpenAI server in a subprocess with --latency seconds per
                      answer (a stand-in for a served model; its CPU is not counted), text + vision;
                      its "varied" answers give every QA task rows, so no stage is skipped
  --backend embedded  the embedded SmolLM2 model (facts-mode perception), --limit figures
Runs the plain pipeline (pipeline.build.run_build); --flow runs the Prefect flow instead (both
builds in one process, after a warm-up flow call so the ephemeral server start is not counted).

    .venv/bin/python bench/rerun.py [--backend fake|embedded] [--latency 0.5] [--limit N] [--flow]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}.items():
    os.environ.setdefault(key, value)

from build_helpers import config, make_input, openai_settings  # noqa: E402
from fakes.openai_server import spawn  # noqa: E402

from pipeline.build import run_build  # noqa: E402
from pipeline.engine.settings import EngineSettings, ModelRole  # noqa: E402

SHARED = Path(os.environ.get("PMC_INSTRUCT_SHARED_DATA", REPO.parent / "shared" / "data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("fake", "embedded"), default="fake")
    parser.add_argument("--latency", type=float, default=0.5, help="fake server seconds per answer")
    parser.add_argument("--limit", type=int, default=None, help="figures to process (embedded default: 2)")
    parser.add_argument("--max-tokens", type=int, default=None)
    parser.add_argument("--flow", action="store_true", help="run the Prefect flow instead of run_build")
    parser.add_argument("--stages", default=None, help="comma-separated plan names (default: the whole plan)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pmc-rerun-"))
    os.environ.setdefault("PREFECT_HOME", str(work / ".prefect"))
    proc = None
    try:
        inp = make_input(work, SHARED / "jats", REPO / "data")
        if args.backend == "fake":
            # answers drawn from each request, so all six QA tasks (and de-leak) produce rows
            proc, url = spawn(latency_s=args.latency, capacity=64, answers="varied")
            settings, limit, max_tokens = openai_settings(url), args.limit, args.max_tokens
        else:
            settings = EngineSettings(text=ModelRole(backend="embedded"))
            limit, max_tokens = args.limit or 2, args.max_tokens or 64
        stages = args.stages.split(",") if args.stages else None
        cfg = config(inp, work / "out", settings, limit=limit, max_tokens=max_tokens, stages=stages)

        if args.flow:
            from flows.build import build_dataset

            build_dataset(config(inp, work / "warmup", settings, stages=["ingest"]))  # start Prefect
            run = build_dataset
        else:
            run = run_build
        t0 = time.perf_counter()
        first = run(cfg)
        t1 = time.perf_counter()
        second = run(cfg)
        t2 = time.perf_counter()
    finally:
        if proc is not None:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    first_s, rerun_s = t1 - t0, t2 - t1
    ratio = rerun_s / first_s
    mode = f"{args.backend}" + (f" (latency {args.latency}s)" if args.backend == "fake" else "")
    print(f"runner: {'prefect flow' if args.flow else 'run_build'}; backend: {mode}; limit: {limit}; "
          f"stages: {args.stages or 'all'}")
    for s in first.steps:
        print(f"  first  {s.name:<11} rows {s.rows:>4} rejects {s.rejects:>3} calls {s.model_calls:>4} {s.seconds:6.2f}s")
    print(f"first build:       {first_s:8.2f} s, model calls {first.model_calls}")
    print(f"unchanged rerun:   {rerun_s:8.2f} s, model calls {second.model_calls}, "
          f"skipped shards {sum(s.skipped_shards for s in second.steps if s.kind == 'stage')}/"
          f"{sum(s.shards for s in second.steps if s.kind == 'stage')}")
    print(f"rerun/first ratio: {ratio:8.3f} (target <= 0.10)")
    ok = ratio <= 0.10 and second.model_calls == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
