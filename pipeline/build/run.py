"""Running the plan: the steps as plain functions the flow wraps in Prefect tasks, and `run_build`,
which runs them without Prefect (tests, notebooks, the rerun bench)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipeline.build.config import BuildConfig
from pipeline.build.context import BuildContext, make_context
from pipeline.build.engines import CountingEngine, add_counts, open_engine, shared
from pipeline.build.plan import stage_plan, step_plan
import pipeline.build.progress as live  # "live": `progress` is run_ingest_step's ingest callback
from pipeline.build.report import REPORT_JSON, BuildReport, StepReport, keep_report
from pipeline.build.steps import GlobalStep
from pipeline.build.versions import record_version
from pipeline.engine.shutdown import clear_stop, request_stop
from pipeline.engine.types import Engine
from pipeline.ingest import run_ingest
from pipeline.io.atomic import atomic_write_text
from pipeline.io.layout import check_apart, ensure_layout
from pipeline.io.lock import exclusive_output
from pipeline.io.parquet import list_shards
from pipeline.stages.base import Stage
from pipeline.schedule import ShardPipeline
from pipeline.stages.runner import ShardOutcome, current_outcome, input_hash, run_stage_shard
from pipeline.timing import Clock


@dataclass
class CountedOutcome(ShardOutcome):
    """A ShardOutcome plus the engine counters of this run of the shard (empty when skipped)."""

    engine: dict[str, int] = field(default_factory=dict)


def run_ingest_step(config: BuildConfig, progress: Any = None, on_shard: Any = None) -> StepReport:
    """Ingest as a build step; `on_shard(name)` hears of each figures shard once it is final."""
    clock = Clock()
    out = Path(config.out_dir)
    check_apart(Path(config.input_dir), out)
    ensure_layout(out)
    with live.current().step("ingest", kind="ingest"):
        result = run_ingest(Path(config.input_dir), out, config.ingest, progress=progress, on_shard=on_shard)
    clock.stop()
    shards = list_shards(out / "figures")
    report = StepReport(
        name="ingest",
        kind="ingest",
        output="figures",
        shards=len(shards),
        rows=sum(pq.read_metadata(p).num_rows for p in shards),
        seconds=round(clock.seconds, 3),
        cpu_seconds=round(clock.cpu_seconds + result.worker_cpu_seconds, 3),
    )
    report.add_reject_breakdown(out)
    report.rejects = sum(report.reject_reasons.values())
    return report


def check_shard(stage: Stage, ctx: BuildContext, shard: str) -> CountedOutcome | None:
    """The shard's outcome from its marker when it is current (one hash of its inputs), else None:
    it must run (changed inputs or settings, no marker, or the stage is forced)."""
    if ctx.forces(stage):
        return None
    in_hash = input_hash(stage, ctx.out_dir, shard, ctx.only(shard))
    done = current_outcome(stage, ctx.out_dir, shard, stage.config_hash(ctx.ids_for(stage)), in_hash)
    return None if done is None else CountedOutcome(**asdict(done))


def run_shard(stage: Stage, ctx: BuildContext, shard: str, engine: Engine) -> CountedOutcome:
    """Run one stage on one shard; a current shard (not forced) is settled from its marker."""
    view = CountingEngine(engine)
    tracker = live.current()
    with tracker.shard(stage.name, shard):  # its model calls count in the live progress as they complete
        outcome = run_stage_shard(stage, ctx.out_dir, shard, view, ctx.ids_for(stage), force=ctx.forces(stage),
                                  only=ctx.only(shard))
    tracker.shard_done(stage.name, shard, outcome.rejects, outcome.skipped)
    return CountedOutcome(**asdict(outcome), engine=view.counts)


def run_step(step: GlobalStep, ctx: BuildContext, engine: Engine) -> StepReport:
    view = CountingEngine(engine)
    clock = Clock()
    with live.current().step(step.name):
        report = step.run(ctx, view)
    clock.stop()
    report.engine = add_counts(report.engine, view.counts)
    if report.seconds:  # a step skipped from its marker reports 0 s, and so 0 CPU
        report.cpu_seconds = round(clock.cpu_seconds, 3)
    return report


def stage_report(stage: Stage, ctx: BuildContext, outcomes: list[CountedOutcome]) -> StepReport:
    report = StepReport.from_shards(stage.name, stage.output_table, outcomes, ctx.out_dir)
    for outcome in outcomes:
        report.engine = add_counts(report.engine, outcome.engine)
    return report


def finish_report(ctx: BuildContext, steps: list[StepReport], seconds: float, cpu_seconds: float = 0.0,
                  run_name: str = "local") -> BuildReport:
    """Assemble the report; keep it (report.keep_report: reports/<time>-<run>.md, and build-report.md
    when the build did work) and in <out>/_state/build-report.json."""
    # Totals come from the steps, not from one engine's counters: engines are per process (Dask
    # workers each have their own) and live across builds, so their counters are not this run's.
    engine_counts: dict[str, int] = {}
    for s in steps:
        engine_counts = add_counts(engine_counts, s.engine)
    report = BuildReport(
        out_dir=str(ctx.out_dir),
        steps=steps,
        model_calls=engine_counts.get("model_calls", sum(s.model_calls for s in steps)),
        cache_hits=engine_counts.get("cache_hits", sum(s.cache_hits for s in steps)),
        engine=engine_counts,
        seconds=round(seconds, 3),
        cpu_seconds=round(cpu_seconds, 3),
        perception_mode=ctx.config.perception_mode,
    )
    report.add_keep_rates(ctx.out_dir)
    report.version, report.new_version = record_version(
        ctx.out_dir, ctx.config, {"model_calls": report.model_calls, "cache_hits": report.cache_hits,
                                  "seconds": report.seconds, "engine": engine_counts})
    keep_report(ctx.out_dir, report, run_name)
    atomic_write_text(ctx.out_dir / REPORT_JSON, report.model_dump_json(indent=2))
    return report


def shard_workers(config: BuildConfig, engine: Any) -> int:
    """Pairs to run at once: one when the engine serialises its calls (an embedded model on this
    machine's cores, where a second shard would only compete with generation for the CPU)."""
    return 1 if getattr(engine, "serialised", False) else config.shard_workers


def run_stages(config: BuildConfig, ctx: BuildContext, stages: list[Stage], engine: Engine) -> list[list[CountedOutcome]]:
    """Every (stage, shard) pair, pipelined over a bounded thread pool (pipeline.schedule)."""
    workers = shard_workers(config, engine)
    with ThreadPoolExecutor(workers, thread_name_prefix="shard") as pool:
        return ShardPipeline(stages, ctx.shards, workers).run(
            check=lambda st, sh: check_shard(st, ctx, sh),
            submit=lambda st, sh: pool.submit(run_shard, st, ctx, sh, engine),
            result=lambda future: future.result(),
        )


def run_build(config: BuildConfig, engine: Engine | None = None, progress: Any = None) -> BuildReport:
    """The whole plan without Prefect (shards pipelined on a thread pool). Pass `engine` to reuse
    one across builds."""
    start, cpu0 = time.perf_counter(), time.process_time()
    stages = stage_plan(config)  # before any work: a bad stage, task or --force name fails here
    clear_stop()
    with exclusive_output(config.out_dir, "pmc-instruct build"):
        engine_ = open_engine(config) if engine is None else shared(engine)
        try:
            steps = [run_ingest_step(config, progress)] if config.wants("ingest") else []
            ctx = make_context(config, engine_)
            outcomes = run_stages(config, ctx, stages, engine_)
            steps += [stage_report(stage, ctx, outs) for stage, outs in zip(stages, outcomes, strict=True)]
            for step in step_plan(config):
                steps.append(run_step(step, ctx, engine_))
            return finish_report(ctx, steps, time.perf_counter() - start, time.process_time() - cpu0)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C: the shard threads drop their model work
                request_stop()
            raise
        finally:
            if engine is None:
                engine_.close()
