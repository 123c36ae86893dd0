"""Where a generated value came from. Every generated row carries one."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Method(StrEnum):
    """How the content of a row was produced; readers must be able to tell these apart."""

    TEXT_MODEL = "text-model"  # a language model read text only
    VISION_MODEL = "vision-model"  # a vision-language model was sent the pixels
    MEASURED_FACTS = "measured-facts"  # a text model described numbers we measured from the pixels
    GEOMETRY = "geometry"  # computed from panel boxes, no model involved in the answer
    RULE = "rule"  # deterministic code, no model


class Provenance(BaseModel):
    method: Method
    model_id: str | None = Field(None, description="backend model id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct")
    backend: str | None = Field(None, description="embedded | openai | none")
    template_name: str | None = None
    template_version: str | None = None
    request_hash: str | None = Field(None, description="content hash of the model request (cache key)")
    latency_s: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    attempts: int = 0
    cache_hit: bool = False
    finish_reason: str | None = Field(
        None, description='why the model stopped: "stop", or "length" when max_tokens (or, embedded, a '
        'string length bound) cut the answer short; None for rule rows and old cache entries')
