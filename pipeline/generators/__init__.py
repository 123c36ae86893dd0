"""QA generators (stage 4): one module per task, found by `discover()` and registered by decorator."""

from pipeline.generators.config import GenerationConfig
from pipeline.generators.registry import build_generators, discover, generator_names, get_generator, register

__all__ = ["GenerationConfig", "build_generators", "discover", "generator_names", "get_generator", "register"]
