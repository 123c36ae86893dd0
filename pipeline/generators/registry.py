"""The generator registry: each generator module registers its class with `@register`.

`discover()` imports every module of the pipeline.generators package, so adding a generator is
one new module (plus its prompt file); nothing else lists generators.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.generators.base import Generator
    from pipeline.generators.config import GenerationConfig

_REGISTRY: dict[str, type[Generator]] = {}


def register(cls: type[Generator]) -> type[Generator]:
    task = cls.task
    if task in _REGISTRY and _REGISTRY[task] is not cls:
        raise ValueError(f"two generators claim the task {task!r}: {_REGISTRY[task]} and {cls}")
    _REGISTRY[task] = cls
    return cls


def discover() -> dict[str, type[Generator]]:
    # the modules beside this one (not `import pipeline.generators`: the package imports this module)
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{info.name}")
    return dict(_REGISTRY)


def generator_names() -> list[str]:
    return sorted(discover())


def get_generator(task: str, config: GenerationConfig | None = None, prompts_dir: Path | None = None) -> Generator:
    generators = discover()
    if task not in generators:
        raise KeyError(f"no generator for task {task!r}; known: {sorted(generators)}")
    return generators[task](config, prompts_dir)


def build_generators(
    config: GenerationConfig | None = None, tasks: list[str] | None = None, prompts_dir: Path | None = None
) -> list[Generator]:
    """One stage per task (all registered tasks when `tasks` is None), in name order. Settings for a
    task no generator claims are an error (a misspelt task name would otherwise be ignored)."""
    unknown = sorted(set(config.task_settings if config else ()) - set(discover()))
    if unknown:
        raise ValueError(f"task_settings for unknown tasks {unknown}; known: {generator_names()}")
    return [get_generator(t, config, prompts_dir) for t in (tasks or generator_names())]
