"""A dataset build: ingest, the shard stages, the whole-dataset steps, the report and a version.

    config   BuildConfig: what to build and how (the CLI fills it)
    plan     which stages and steps run, in dependency order (STAGE_FACTORIES, STEP_FACTORIES)
    context  what the stages of one build share (model ids, shards, the --limit selection)
    engines  one engine per process, shared by tasks; per-shard counting views
    steps    GlobalStep and the whole-dataset steps (finalize, report)
    run      the steps as plain functions, and run_build (the whole plan without Prefect)
    report   what a build did, per stage (build-report.md)
    accounting  every planned item ends once, as a row or a reject
    versions    dataset versions under <out>/versions/

Modules here import each other top-down (config <- plan/context/engines <- run), never this package.
"""

from pipeline.build.config import BuildConfig
from pipeline.build.context import BuildContext, make_context, model_ids, select_figures
from pipeline.build.engines import CountingEngine, SharedEngine, add_counts, close_engines, engine_for, engine_key, open_engine
from pipeline.build.plan import STAGE_FACTORIES, STEP_FACTORIES, all_names, qa_stages, stage_plan, step_plan
from pipeline.build.report import BuildReport, StepReport
from pipeline.build.run import (
    CountedOutcome,
    check_shard,
    finish_report,
    run_build,
    run_ingest_step,
    run_shard,
    run_step,
    stage_report,
)
from pipeline.build.steps import FinalizeStep, GlobalStep, ReportStep, finalize_config

__all__ = [
    "STAGE_FACTORIES",
    "STEP_FACTORIES",
    "BuildConfig",
    "BuildContext",
    "BuildReport",
    "CountedOutcome",
    "CountingEngine",
    "FinalizeStep",
    "GlobalStep",
    "ReportStep",
    "SharedEngine",
    "StepReport",
    "add_counts",
    "all_names",
    "check_shard",
    "close_engines",
    "engine_for",
    "engine_key",
    "finalize_config",
    "finish_report",
    "make_context",
    "model_ids",
    "open_engine",
    "qa_stages",
    "run_build",
    "run_ingest_step",
    "run_shard",
    "run_step",
    "select_figures",
    "stage_plan",
    "stage_report",
    "step_plan",
]
