"""build_engine: one backend per configured role, a shared response cache, log redaction."""

from __future__ import annotations

from pathlib import Path

from pipeline.engine.backend import Backend
from pipeline.engine.cache import ResponseCache
from pipeline.engine.core import ModelEngine
from pipeline.engine.redact import install_log_redaction, register_secret
from pipeline.engine.settings import EngineSettings, ModelRole


def _openai(role: ModelRole, settings: EngineSettings, vision: bool) -> Backend:
    from pipeline.engine.openai_backend import OpenAIBackend

    key = role.resolve_api_key(settings.api_key)
    register_secret(key.get_secret_value() if key else None)
    return OpenAIBackend(role, key, vision=vision)


def build_engine(settings: EngineSettings, cache_dir: Path | None, no_cache: bool = False) -> ModelEngine:
    """Text requests go to settings.text; vision requests to settings.vision only when it names an
    endpoint; otherwise they get an error result (never silently sent to a text-only model).
    `cache_dir` is the folder for responses.sqlite (normally <out>/cache); None disables caching."""
    install_log_redaction()
    if settings.api_key is not None:
        register_secret(settings.api_key.get_secret_value())
    backends: dict[str, Backend | None] = {}
    missing: dict[str, str] = {}
    if settings.text.uses_endpoint:
        backends["text"] = _openai(settings.text, settings, vision=False)
    elif settings.text.backend == "openai":
        raise ValueError("text model backend is 'openai' but no base_urls are configured")
    else:
        from pipeline.engine.embedded_backend import EmbeddedBackend

        backends["text"] = EmbeddedBackend(settings.text)
    if settings.vision.uses_endpoint:
        backends["vision"] = _openai(settings.vision, settings, vision=True)
    else:
        backends["vision"] = None
        missing["vision"] = (
            "no vision backend is configured (vision role needs backend=openai with base_urls); "
            "the embedded model reads text only"
        )
    cache = ResponseCache(Path(cache_dir) / "responses.sqlite") if cache_dir and not no_cache else None
    return ModelEngine(backends, cache=cache, no_cache=no_cache, missing_reason=missing)
