"""A dataset build as an ordered plan: ingest, then Stage objects (each mapped over figure shards),
then global steps (whole-dataset work such as split assignment, exports, the report).

Everything here is plain Python; flows/build.py wraps the same functions in Prefect tasks and
`run_build` runs them without Prefect (tests, notebooks). To add a stage: write a Stage subclass
and append `(name, factory)` to STAGE_FACTORIES in dependency order; a whole-dataset step is a
GlobalStep appended to STEP_FACTORIES. Factories take the BuildConfig and return the object.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from pipeline.deleak import DeleakConfig, build_deleak_stages
from pipeline.generators import GenerationConfig, build_generators, generator_names
from pipeline.build_engines import (  # noqa: F401 - re-exported: flows and tests import them from here
    CountedOutcome,
    CountingEngine,
    SharedEngine,
    add_counts,
    close_engines,
    engine_for,
    engine_key,
    open_engine,
)
from pipeline.build_report import REPORT_JSON, REPORT_MD, BuildReport, StepReport
from pipeline.engine.settings import DEFAULT_EMBEDDED_MODEL, EngineSettings, ModelRole
from pipeline.engine.types import Engine
from pipeline.ingest.config import IngestConfig
from pipeline.io.atomic import atomic_write_text
from pipeline.io.lock import exclusive_output
from pipeline.io.parquet import list_shards
from pipeline.stages.base import Stage
from pipeline.stages.knowledge import KnowledgeOptions, KnowledgeStage
from pipeline.stages.perception import PerceptionOptions, PerceptionStage
from pipeline.stages.runner import ShardOutcome, figure_shards, is_done, run_stage_shard
from pipeline.stages.summary import SummaryOptions, SummaryStage
from pipeline.versions import record_version


class BuildConfig(BaseModel):
    """Everything a build needs; the CLI fills it, the flow takes it as its one parameter."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    input_dir: Path
    out_dir: Path
    stages: list[str] | None = Field(None, description="names to run, in plan order; None: all")
    limit: int | None = Field(None, ge=1, description="process only the first N figures by figure id")
    no_cache: bool = Field(False, description="bypass the engine's response cache")
    cache_dir: Path | None = Field(None, description="response cache folder; None: <out>/cache. With Dask workers on "
                                   "several machines give a node-local path (SQLite WAL needs a local file system)")
    prompts_dir: Path | None = Field(None, description="template folder; None: PMC_INSTRUCT_PROMPTS_DIR or prompts/")
    max_tokens: int | None = Field(None, ge=16, description="override every model stage's max_tokens")
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    summary: SummaryOptions = Field(default_factory=SummaryOptions)
    knowledge: KnowledgeOptions = Field(default_factory=KnowledgeOptions)
    perception: PerceptionOptions = Field(default_factory=PerceptionOptions)
    tasks: list[str] | None = Field(None, description="QA tasks to generate; None: every registered generator")
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    deleak: DeleakConfig = Field(default_factory=DeleakConfig)
    finalize: dict[str, Any] = Field(
        default_factory=dict, description="FinalizeConfig overrides (answer, dedup, mcq, split, internvl)"
    )
    report_examples: int = Field(6, ge=0, description="gallery examples per task in report.html")

    def options(self, opts: BaseModel) -> Any:
        return opts.model_copy(update={"max_tokens": self.max_tokens}) if self.max_tokens else opts

    @property
    def perception_mode(self) -> str:
        # Only a configured vision endpoint may claim to have seen pixels.
        return "vision" if self.engine.vision.uses_endpoint else "facts"

    def wants(self, name: str) -> bool:
        return self.stages is None or name in self.stages


StageFactory = Callable[[BuildConfig], "Stage | list[Stage]"]

# Plan order is dependency order: a stage reads only tables written by stages before it.
# A factory may return several stages (one per QA task); they share the plan name.
STAGE_FACTORIES: list[tuple[str, StageFactory]] = [
    ("summary", lambda c: SummaryStage(c.options(c.summary), c.prompts_dir)),
    ("knowledge", lambda c: KnowledgeStage(c.options(c.knowledge), c.prompts_dir)),
    ("perception", lambda c: PerceptionStage(c.perception_mode, c.options(c.perception), c.prompts_dir)),
    ("qa", lambda c: build_generators(c.generation, c.tasks, c.prompts_dir)),
    ("deleak", lambda c: build_deleak_stages(c.tasks or generator_names(), c.deleak, c.prompts_dir)),
]


class GlobalStep(ABC):
    """Whole-dataset work after the shard stages (cross-shard dedup, splits, exports, report).
    `run` must be idempotent; it returns its counts as a StepReport (kind="step")."""

    name: ClassVar[str]

    @abstractmethod
    def run(self, ctx: BuildContext, engine: Engine) -> StepReport: ...


StepFactory = Callable[[BuildConfig], GlobalStep]
STEP_FACTORIES: list[tuple[str, StepFactory]] = [
    ("finalize", lambda c: _steps().FinalizeStep(c)),
    ("report", lambda c: _steps().ReportStep(c)),
]


def _steps():
    import pipeline.build_steps  # imports this module for its types: load it lazily

    return pipeline.build_steps

KNOWN_NAMES = ("ingest",)


def all_names() -> list[str]:
    return [*KNOWN_NAMES, *(n for n, _ in STAGE_FACTORIES), *(n for n, _ in STEP_FACTORIES)]


def stage_plan(config: BuildConfig) -> list[Stage]:
    """The shard stages this build runs, in order."""
    unknown = set(config.stages or ()) - set(all_names())
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(all_names())}")
    plan: list[Stage] = []
    for name, factory in STAGE_FACTORIES:
        if config.wants(name):
            made = factory(config)
            plan.extend(made if isinstance(made, list) else [made])
    return plan


def step_plan(config: BuildConfig) -> list[GlobalStep]:
    return [factory(config) for name, factory in STEP_FACTORIES if config.wants(name)]


# -- context shared by every stage of one build ------------------------------------------------


@dataclass
class BuildContext:
    config: BuildConfig
    model_ids: dict[str, str]
    shards: list[str] = field(default_factory=list)
    selection: dict[str, frozenset[str]] | None = None  # shard -> figure ids, when --limit applies

    @property
    def out_dir(self) -> Path:
        return Path(self.config.out_dir)

    def only(self, shard: str) -> frozenset[str] | None:
        return None if self.selection is None else self.selection.get(shard, frozenset())

    def ids_for(self, stage: Stage) -> dict[str, str]:
        return {role: self.model_ids.get(role, "none") for role in stage.roles}


def _role_id(role: ModelRole, backend: Any = None) -> str:
    if backend is not None and getattr(backend, "model_id", None):
        return f"{getattr(backend, 'name', role.backend)}:{backend.model_id}"
    if role.backend == "embedded":
        return f"embedded:{role.model or DEFAULT_EMBEDDED_MODEL}"
    return f"openai:{role.model}" if role.uses_endpoint else "none"


def model_ids(settings: EngineSettings, engine: Engine | None = None) -> dict[str, str]:
    """Model id per role as it enters config hashes; base URLs are left out (any replica will do)."""
    backends = getattr(engine, "backends", {}) or {}
    return {
        "text": _role_id(settings.text, backends.get("text")),
        "vision": _role_id(settings.vision, backends.get("vision")) if settings.vision.uses_endpoint else "none",
    }


def select_figures(out_dir: Path, limit: int | None) -> dict[str, frozenset[str]] | None:
    """The first `limit` figure ids (sorted, across all shards), grouped by shard; None = all."""
    if limit is None:
        return None
    ids: list[tuple[str, str]] = []
    for path in list_shards(Path(out_dir) / "figures"):
        ids += [(fid, path.name) for fid in pq.read_table(path, columns=["figure_id"]).column(0).to_pylist()]
    chosen: dict[str, set[str]] = {}
    for fid, shard in sorted(ids)[:limit]:
        chosen.setdefault(shard, set()).add(fid)
    return {shard: frozenset(v) for shard, v in chosen.items()}


def make_context(config: BuildConfig, engine: Engine | None = None) -> BuildContext:
    """Call after ingest: the shards and the --limit selection come from the figures table."""
    return BuildContext(
        config=config,
        model_ids=model_ids(config.engine, engine),
        shards=figure_shards(config.out_dir),
        selection=select_figures(config.out_dir, config.limit),
    )


# -- the steps, as plain functions the flow wraps in tasks --------------------------------------


def run_ingest_step(config: BuildConfig, progress: Any = None) -> StepReport:
    from pipeline.ingest import run_ingest
    from pipeline.io.layout import ensure_layout

    start = time.perf_counter()
    ensure_layout(Path(config.out_dir))
    run_ingest(Path(config.input_dir), Path(config.out_dir), config.ingest, progress=progress)
    out = Path(config.out_dir)
    shards = list_shards(out / "figures")
    report = StepReport(
        name="ingest",
        kind="ingest",
        output="figures",
        shards=len(shards),
        rows=sum(pq.read_metadata(p).num_rows for p in shards),
        seconds=round(time.perf_counter() - start, 3),
    )
    report.add_reject_breakdown(out)
    report.rejects = sum(report.reject_reasons.values())
    return report


def shard_is_current(stage: Stage, ctx: BuildContext, shard: str) -> bool:
    return is_done(stage, ctx.out_dir, shard, stage.config_hash(ctx.ids_for(stage)), ctx.only(shard))


def run_shard(stage: Stage, ctx: BuildContext, shard: str, engine: Engine) -> CountedOutcome:
    view = CountingEngine(engine)
    outcome = run_stage_shard(stage, ctx.out_dir, shard, view, ctx.ids_for(stage), only=ctx.only(shard))
    return CountedOutcome(**asdict(outcome), engine=view.counts)


def run_step(step: GlobalStep, ctx: BuildContext, engine: Engine) -> StepReport:
    view = CountingEngine(engine)
    report = step.run(ctx, view)
    report.engine = add_counts(report.engine, view.counts)
    return report


def stage_report(stage: Stage, ctx: BuildContext, outcomes: list[ShardOutcome]) -> StepReport:
    report = StepReport.from_shards(stage.name, stage.output_table, outcomes, ctx.out_dir)
    for outcome in outcomes:
        report.engine = add_counts(report.engine, getattr(outcome, "engine", {}))
    return report


def finish_report(ctx: BuildContext, steps: list[StepReport], engine: Engine, seconds: float) -> BuildReport:
    """Assemble the report and write it to <out>/build-report.md and <out>/_state/build-report.json."""
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
        perception_mode=ctx.config.perception_mode,
    )
    report.add_keep_rates(ctx.out_dir)
    report.version, report.new_version = record_version(
        ctx.out_dir, ctx.config, {"model_calls": report.model_calls, "cache_hits": report.cache_hits,
                                  "seconds": report.seconds, "engine": engine_counts})
    atomic_write_text(ctx.out_dir / REPORT_MD, report.to_markdown())
    atomic_write_text(ctx.out_dir / REPORT_JSON, report.model_dump_json(indent=2))
    return report


def run_build(config: BuildConfig, engine: Engine | None = None, progress: Any = None) -> BuildReport:
    """The whole plan without Prefect, sequentially. Pass `engine` to reuse one across builds."""
    start = time.perf_counter()
    own = engine is None
    with exclusive_output(config.out_dir, "pmc-instruct build"):
        shared = open_engine(config) if own else engine
        try:
            steps = [run_ingest_step(config, progress)] if config.wants("ingest") else []
            ctx = make_context(config, shared)
            for stage in stage_plan(config):
                outcomes = [run_shard(stage, ctx, shard, shared) for shard in ctx.shards]
                steps.append(stage_report(stage, ctx, outcomes))
            for step in step_plan(config):
                steps.append(run_step(step, ctx, shared))
            return finish_report(ctx, steps, shared, time.perf_counter() - start)
        finally:
            if own:
                shared.close()
