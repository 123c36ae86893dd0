"""Settings of the context de-leakage stage (all of them change its output, so all feed its hash)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DeleakConfig(BaseModel):
    threshold: float = Field(0.4, ge=0.0, le=1.0, description="rows scoring below this pass through untouched")
    overlap_weight: float = Field(0.5, ge=0.0)
    embedding_weight: float = Field(0.5, ge=0.0)
    min_rewrite_words: int = Field(5, ge=0, description="shorter rewrites count as unusable (no background left)")
    redact_drop_share: float = Field(0.5, gt=0.0, le=1.0, description="drop sentences holding this share of the answer")
    temperature: float = Field(0.0, ge=0.0)
    max_tokens: int = Field(256, ge=16)
    seed: int = 0
