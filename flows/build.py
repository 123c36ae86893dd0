"""The `build-dataset` Prefect flow: ingest, then the shard stages pipelined over figure shards (a
shard's stage starts once that shard's inputs exist; at most `shard_workers` task runs at once, the
engine's slot pools bounding model calls across them), then the global steps, then a markdown
artifact. On the thread runner ingest runs beside the stages: each shard it writes is fed to the
pipeline at once, so model calls start while later files are still being parsed. Thin on purpose:
every task calls a pipeline.build function.

Engine: tasks get theirs from pipeline.build.engine_for(config), a per-process cache keyed by the
engine settings, cache folder and no_cache. On the default thread runner every task shares one
engine (the embedded model is loaded once per process and SharedEngine serialises its calls;
endpoint calls of concurrent shards overlap within each role's `concurrency`); on the Dask runner
each worker process builds its own (an engine cannot be pickled), all sharing the WAL SQLite
response cache.

Caching: our per-shard markers (_state/<stage>/<shard>.json: input bytes hash + config hash with
template versions and model ids) decide what to skip, checked against the files on disk each run.
The flow checks them before submitting, so only shards with work get a task run; the flow log states
per stage how many shards were skipped (a shard found current inside its task, e.g. after a retry,
ends in a Completed state named "Skipped"). We do not add a
Prefect cache_key_fn: Prefect's cache would return a stored result without looking at the disk,
so it would call a shard done after its output was deleted, and its stored outcome (with the
first run's model calls) would misreport a rerun; the marker check costs one hash of the inputs.
"""

from __future__ import annotations

import contextvars
import gc
import threading
import time
from collections.abc import Callable
from typing import Any
from contextlib import contextmanager

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.runtime import flow_run
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from flows.monitor import monitor_run
from flows.observe import json_log, publish_artifacts
from pipeline.build import (
    DEFAULT_SHARD_WORKERS,
    BuildConfig,
    BuildContext,
    GlobalStep,
    check_shard,
    engine_for,
    finish_report,
    make_context,
    run_ingest_step,
    run_shard,
    run_step,
    shard_workers,
    stage_plan,
    stage_report,
    step_plan,
)
import pipeline.build.progress as live
from pipeline import embeddings, heap
from pipeline.build.report import BuildReport, StepReport
from pipeline.deleak.stage import DeleakStage
from pipeline.engine.shutdown import ShuttingDown, clear_stop, request_stop
from pipeline.io.lock import exclusive_output
from pipeline.schedule import ShardFeed, ShardPipeline
from pipeline.stages.base import Stage


RUN_GC_THRESHOLDS = (50_000, 20, 10)  # CPython's defaults are (700, 10, 10)


@contextmanager
def _settled_heap():
    """Move what start-up built (imported libraries, the loaded model, the engine) out of the cyclic
    garbage collector's reach for the run. Each full collection otherwise rescans those hundreds of
    thousands of long-lived objects; on the engine bench that was ~10 % of the client CPU per call.
    Objects are still freed by reference counting meanwhile; the run's end hands them back so that
    cycles among them are collected as usual (and native extensions see a normal shutdown).
    Freed memory goes back to the system as the run goes (pipeline.heap): resident memory stays
    that of the work in flight, not of the corpus.
    For the run, the collector also waits for 50,000 new container objects instead of 700 before a
    young collection, and for 20 young collections instead of 10 before a middle one
    (RUN_GC_THRESHOLDS): most of a shard's rows, requests and answers are freed by reference
    counting before it looks, so far fewer survive into the older generations. On
    600-figure builds (bench/build.py, L = 0.3 s) the flow process spent 2.5-3.1 s of CPU in the
    collector instead of 6.9-8.0 s (31 full collections -> 6), for 4-8 MB more peak memory."""
    heap.return_freed_memory()
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        with heap.PeriodicTrim():
            yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _retry_unless_stopping(task, task_run, state) -> bool:
    """Retry a failed task, except one whose model work was abandoned because the process is stopping."""
    try:
        state.result()
    except ShuttingDown:
        return False
    except Exception:
        return True
    return True


@contextmanager
def _abandon_model_work_on_interrupt():
    """SIGTERM (Prefect raises TerminationSignal in the flow's thread), Ctrl-C or exit: tell every engine
    in this process to drop its work. Otherwise the task threads, busy in generate() or waiting for
    HTTP answers, would hold the process until their shards finish. An ordinary task failure does not
    stop the other shards: their finished work is kept."""
    clear_stop()  # a new run in a process whose earlier run was interrupted (e.g. a notebook)
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception):
            request_stop()
        raise


@task(name="ingest", task_run_name="ingest", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def ingest_task(config: BuildConfig, on_shard: Callable[[str], None] | None = None) -> StepReport:
    return run_ingest_step(config, on_shard=on_shard)


@task(name="stage-shard", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE,
      task_run_name="{stage.name}/{shard}", retry_condition_fn=_retry_unless_stopping)
def stage_shard_task(stage: Stage, ctx: BuildContext, shard: str):
    # Retrying is safe: outputs and markers are written atomically, answers come back from the cache.
    outcome = run_shard(stage, ctx, shard, engine_for(ctx.config))  # one marker check inside
    if outcome.skipped:  # found current here (e.g. on a retry): the marker's counts, no model call
        return Completed(data=outcome, name="Skipped", message="inputs, templates and models unchanged")
    get_run_logger().info(
        "%s %s: %d rows, %d rejects, %d model calls, %d cache hits, %.1f s", stage.name, shard,
        outcome.rows, outcome.rejects, outcome.model_calls, outcome.cache_hits, outcome.seconds)
    return outcome


@task(name="global-step", retries=1, cache_policy=NO_CACHE, task_run_name="{step.name}",
      retry_condition_fn=_retry_unless_stopping)
def global_step_task(step: GlobalStep, ctx: BuildContext) -> StepReport:
    return run_step(step, ctx, engine_for(ctx.config))


def _streams_ingest(config: BuildConfig) -> bool:
    """Stages can start on ingest's first shards when ingest runs in this process (the thread runner:
    the feed cannot cross to Dask workers) and no --limit selection needs the whole figures table."""
    from prefect.context import FlowRunContext

    runner = getattr(FlowRunContext.get(), "task_runner", None)
    return config.wants("ingest") and config.limit is None and isinstance(runner, ThreadPoolTaskRunner)


def _ingest_in_background(config: BuildConfig, feed: ShardFeed) -> Callable[[], StepReport]:
    """Start the ingest task on a thread of its own, in this flow run's context (so its task run
    belongs to the run), telling `feed` of each shard; returns the wait for its StepReport. The
    thread is a daemon: on Ctrl-C ingest stops between files (pipeline.engine.shutdown)."""
    box: dict[str, Any] = {}
    context = contextvars.copy_context()

    def work() -> None:
        try:
            box["report"] = context.run(ingest_task, config, feed.put)
        except BaseException as exc:  # noqa: BLE001 - handed to the flow through the feed and wait()
            box["error"] = exc
            feed.close(exc if isinstance(exc, Exception) else RuntimeError(f"ingest stopped: {exc!r}"))
        else:
            feed.close()

    thread = threading.Thread(target=work, name="ingest", daemon=True)
    thread.start()

    def wait() -> StepReport:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["report"]

    return wait


def _preload_minilm_once(stages: list[Stage]) -> Callable[[], None]:
    """On the first shard that has work, start loading de-leak's embedding model in the background
    (it is ready by the time QA rows reach de-leak); an unchanged rerun never loads it, nor does a
    build that scores on an embeddings endpoint (the local model is then only its fallback)."""
    wanted = [any(isinstance(s, DeleakStage) and s.scorer.uses_local_model for s in stages)]

    def preload() -> None:
        if wanted[0]:
            wanted[0] = False
            embeddings.preload()

    return preload


def _shard_arrived(ctx: BuildContext, shard: str) -> None:
    ctx.shards.append(shard)
    live.current().add_shard(shard, live.shard_sizes(ctx.out_dir, [shard], None)[shard])


@flow(name="build-dataset", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=DEFAULT_SHARD_WORKERS))
def build_dataset(config: BuildConfig) -> BuildReport:
    start, cpu0 = time.perf_counter(), time.process_time()
    log = get_run_logger()
    engine = engine_for(config)  # in the flow process for the model ids; tasks get theirs the same way
    # One writer per output folder: a rebuild that fires while another run is still writing stops here.
    with exclusive_output(config.out_dir, f"build-dataset flow run {flow_run.get_name()}"), \
            _abandon_model_work_on_interrupt(), _settled_heap(), json_log(config.out_dir) as events, \
            monitor_run(log):
        steps: list[StepReport] = []
        feed = ShardFeed() if _streams_ingest(config) else None
        if feed is not None:  # stages start on each shard ingest writes, while it parses the next ones
            wait_for_ingest = _ingest_in_background(config, feed)
        elif config.wants("ingest"):
            steps.append(events.step(ingest_task(config)))
        ctx = make_context(config, engine, streamed=feed is not None)
        log.info("%s figure shards; limit=%s; perception mode: %s",
                 "streaming" if feed is not None else len(ctx.shards), config.limit, config.perception_mode)
        stages = stage_plan(config)
        reports: dict[int, StepReport] = {}

        def stage_done(index: int, outcomes: list) -> None:
            report = reports[index] = events.step(stage_report(stages[index], ctx, outcomes))
            log.info("%s: %d/%d shards unchanged (skipped), %d rows, %d rejects, %d model calls; wall %.1f s, "
                     "CPU %.1f s, model %.1f s, queued %.1f s", report.name, report.skipped_shards, report.shards,
                     report.rows, report.rejects, report.model_calls, report.seconds, report.cpu_seconds,
                     report.model_seconds, report.queue_seconds)

        # A shard's next stage starts as soon as its own inputs are written (pipeline.schedule), at
        # most `shard_workers` task runs at a time. Up-to-date shards are settled here from their
        # markers (one check each), without a task run: on an unchanged rerun the per-task API round
        # trips would otherwise be most of the wall time.
        preload = _preload_minilm_once(stages)
        ShardPipeline(stages, ctx.shards, shard_workers(config, engine)).run(
            check=lambda st, sh: check_shard(st, ctx, sh),
            submit=lambda st, sh: preload() or stage_shard_task.submit(stage=st, ctx=ctx, shard=sh),
            result=lambda future: future.result(),
            on_outcome=lambda st, sh, outcome: events.shard(outcome),
            on_stage_done=stage_done,
            feed=feed,
            on_shard=lambda shard: _shard_arrived(ctx, shard),
        )
        if feed is not None:
            steps.append(events.step(wait_for_ingest()))
        steps += [reports[i] for i in range(len(stages))]
        # The global steps use none of the stage objects. Drop them before finalize, the build's peak:
        # de-leak's embedding memo alone holds up to 16k vectors (25 MB at 2k figures, measured) and
        # the batches they were cut from; their pages go back to the system at once, not at the
        # next periodic trim.
        del stages, preload
        heap.trim()
        for step in step_plan(config):
            steps.append(events.step(global_step_task(step, ctx)))
        report = finish_report(ctx, steps, time.perf_counter() - start, time.process_time() - cpu0,
                               run_name=flow_run.get_name() or "local")
        events.run(report)
        publish_artifacts(report, config)
        return report
