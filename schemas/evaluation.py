"""Structured-output contract of the optional LLM judge used by evaluation (what the judge model fills)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JudgeVerdict(BaseModel):
    score: int = Field(ge=1, le=5, description="1 = wrong ... 5 = same meaning as the reference")
    reason: str = Field("", max_length=400)
