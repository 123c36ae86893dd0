"""What a backend implements for the engine: take jobs (requests with their hash), yield outcomes as
they complete, never raise per item."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel

from pipeline.engine.stats import StatsCounter
from pipeline.engine.types import ChatRequest, ErrorKind


@dataclass(slots=True)
class Job:
    req: ChatRequest
    request_hash: str


@dataclass(slots=True)
class Outcome:
    job: Job
    text: str | None = None
    parsed: BaseModel | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    attempts: int = 0
    finish_reason: str | None = None  # "stop" | "length" (cut short) | None (unknown)


class Backend(Protocol):
    name: str  # "openai" | "embedded"
    model_id: str
    vision: bool  # whether images reach the model
    image_variant: str  # how images are prepared (part of the request hash)

    def run(self, jobs: list[Job], stats: StatsCounter) -> AsyncIterator[Outcome]: ...

    async def aclose(self) -> None: ...
