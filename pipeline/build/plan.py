"""The build as an ordered plan: ingest, then Stage objects (each mapped over figure shards), then
global steps (whole-dataset work: gates, splits, exports, the report).

To add a stage: write a Stage subclass and append `(name, factory)` to STAGE_FACTORIES in dependency
order; a whole-dataset step is a GlobalStep appended to STEP_FACTORIES. Factories take the
BuildConfig and return the object(s). A new QA task needs neither: it is a generator module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.build.config import BuildConfig
from pipeline.build.steps import FinalizeStep, GlobalStep, ReportStep
from pipeline.deleak import DeleakConfig, build_deleak_stages
from pipeline.generators import GenerationConfig, build_generators, generator_names
from pipeline.stages.base import Stage
from pipeline.stages.knowledge import KnowledgeStage
from pipeline.stages.perception import PerceptionStage
from pipeline.stages.summary import SummaryStage


def qa_stages(
    generation: GenerationConfig | None = None,
    deleak: DeleakConfig | None = None,
    tasks: list[str] | None = None,
    prompts_dir: Path | None = None,
    *,
    run_deleak: bool = True,
) -> list[Stage]:
    """Generators for `tasks` (all registered when None), then one de-leak stage per task."""
    generators = build_generators(generation, tasks, prompts_dir)
    stages: list[Stage] = list(generators)
    if run_deleak:
        stages += build_deleak_stages([g.task for g in generators], deleak, prompts_dir)
    return stages


StageFactory = Callable[[BuildConfig], "Stage | list[Stage]"]

# Plan order is dependency order: a stage reads only tables written by stages before it.
# A factory may return several stages (one per QA task); they share the plan name.
STAGE_FACTORIES: list[tuple[str, StageFactory]] = [
    ("summary", lambda c: SummaryStage(c.model_options(c.summary), c.prompts_dir)),
    ("knowledge", lambda c: KnowledgeStage(c.model_options(c.knowledge), c.prompts_dir)),
    ("perception", lambda c: PerceptionStage(c.perception_mode, c.model_options(c.perception), c.prompts_dir)),
    ("qa", lambda c: build_generators(c.model_options(c.generation), c.tasks, c.prompts_dir)),
    ("deleak", lambda c: build_deleak_stages(c.tasks or generator_names(), c.model_options(c.deleak), c.prompts_dir,
                                             c.engine.embed)),
]

StepFactory = Callable[[BuildConfig], GlobalStep]
STEP_FACTORIES: list[tuple[str, StepFactory]] = [
    ("finalize", FinalizeStep),
    ("report", ReportStep),
]

KNOWN_NAMES = ("ingest",)


def all_names() -> list[str]:
    return [*KNOWN_NAMES, *(n for n, _ in STAGE_FACTORIES), *(n for n, _ in STEP_FACTORIES)]


def stage_plan(config: BuildConfig) -> list[Stage]:
    """The shard stages this build runs, in order. Raises ValueError on an unknown stage name or a
    --force naming nothing this build runs."""
    unknown = set(config.stages or ()) - set(all_names())
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(all_names())}")
    plan: list[Stage] = []
    for name, factory in STAGE_FACTORIES:
        if config.wants(name):
            made = factory(config)
            plan.extend(made if isinstance(made, list) else [made])
    ran = {*(s.name for s in plan), *(n for n, _ in STEP_FACTORIES if config.wants(n))}
    idle = [f for f in config.force if not any(f in (n, n.split(".", 1)[0]) for n in ran)]
    if idle:
        raise ValueError(f"--force {', '.join(idle)}: not a stage of this build; it runs {', '.join(sorted(ran))}")
    return plan


def step_plan(config: BuildConfig) -> list[GlobalStep]:
    return [factory(config) for name, factory in STEP_FACTORIES if config.wants(name)]
