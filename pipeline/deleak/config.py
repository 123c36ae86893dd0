"""Settings of the context de-leakage stage (all of them change its output, so all feed its hash).
Sampling (max_tokens, temperature, seed) comes from ModelOptions, like every model step's."""

from __future__ import annotations

from pydantic import Field

from pipeline.stages.common import ModelOptions


class DeleakConfig(ModelOptions):
    threshold: float = Field(0.4, ge=0.0, le=1.0, description="rows scoring below this pass through untouched")
    overlap_weight: float = Field(0.5, ge=0.0)
    embedding_weight: float = Field(0.5, ge=0.0)
    min_rewrite_words: int = Field(5, ge=0, description="shorter rewrites count as unusable (no background left)")
    redact_drop_share: float = Field(0.5, gt=0.0, le=1.0, description="drop sentences holding this share of the answer")
    max_tokens: int = Field(256, ge=16, description="max new tokens per rewrite")
