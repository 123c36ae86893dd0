"""The QA part of a build in one place: generator stages (4) then de-leak stages (5), per shard,
followed once by `pipeline.finalize.run_finalize`. A flow maps the stages over shards in this order.

    stages = qa_stages(generation, deleak)              # run each with run_stage_shard(stage, out, shard, ...)
    run_finalize(out, finalize_config(generation, ...)) # after every shard is done
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.deleak import DeleakConfig, build_deleak_stages
from pipeline.finalize import FinalizeConfig
from pipeline.generators import GenerationConfig, build_generators
from pipeline.stages.base import Stage


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


def finalize_config(generation: GenerationConfig | None = None, tasks: list[str] | None = None,
                    *, run_deleak: bool = True, **overrides: Any) -> FinalizeConfig:
    """A FinalizeConfig consistent with the generation settings (same bbox tolerance, same tasks)."""
    generation = generation or GenerationConfig()
    return FinalizeConfig(
        tasks=tasks,
        source="deleaked" if run_deleak else "qa",
        bbox_tolerance=generation.bbox_tolerance,
        **overrides,
    )
