"""The model engine: stages submit many ChatRequests and get validated ChatResults as they complete.

    from pipeline.engine import build_engine, load_settings, ChatRequest, ChatMessage, TemplateRef
    engine = build_engine(load_settings(config_path), cache_dir=out / "cache")
    async for result in engine.stream(requests): ...     # completion order
    results = engine.run(requests)                        # blocking, request order
"""

from pipeline.engine.core import ModelEngine
from pipeline.engine.factory import build_engine
from pipeline.engine.settings import EngineSettings, ModelRole, load_settings
from pipeline.engine.stats import EngineStats
from pipeline.engine.types import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    Engine,
    ErrorKind,
    Sampling,
    TemplateRef,
)

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "Engine",
    "EngineSettings",
    "EngineStats",
    "ErrorKind",
    "ModelEngine",
    "ModelRole",
    "Sampling",
    "TemplateRef",
    "build_engine",
    "load_settings",
]
