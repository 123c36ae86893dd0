"""The contract between stages and model backends: requests in, results out, never an exception per item."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from schemas.provenance import Provenance

if TYPE_CHECKING:
    from pipeline.engine.backend import Backend
    from pipeline.engine.stats import EngineStats


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    text: str
    images: list[str] = Field(default_factory=list, description="local image paths, sent before the text")


class Sampling(BaseModel):
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 384
    seed: int | None = 0


class TemplateRef(BaseModel):
    name: str
    version: str


class ChatRequest(BaseModel):
    """One model call. `key` is the caller's id for the item (unique within one submission)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    key: str
    messages: list[ChatMessage]
    template: TemplateRef
    role: Literal["text", "vision"] = "text"
    output_model: type[BaseModel] | None = None
    sampling: Sampling = Field(default_factory=Sampling)


class ErrorKind(StrEnum):
    MODEL_ERROR = "model-error"  # transport/server failure after retries
    UNPARSEABLE = "model-unparseable"  # answer never validated against output_model
    # An image named by the request cannot be read (values equal RejectReason's, so stages map 1:1).
    IMAGE_MISSING = "image-missing"
    IMAGE_CORRUPT = "image-corrupt"


class ChatResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    key: str
    text: str | None = None  # raw model text (kept for rejects)
    parsed: Any = None  # an instance of the request's output_model when it validated
    error: str | None = None
    error_kind: ErrorKind | None = None
    provenance: Provenance  # provenance.finish_reason: "length" when the answer was cut short

    @property
    def ok(self) -> bool:
        return self.error is None


class Engine(Protocol):
    """What stages and the build use. Implementations bound concurrency, cache, retry and never
    raise per item."""

    @property
    def backends(self) -> Mapping[str, Backend | None]:
        """The backend per role ("text", "vision"); None where a role has none. Its model id enters
        the stages' config hashes."""
        ...

    @property
    def stats(self) -> EngineStats:
        """Counters since the engine was built (a snapshot)."""
        ...

    def stream(self, requests: Iterable[ChatRequest]) -> AsyncIterator[ChatResult]:
        """Yield one result per request, in completion order."""
        ...

    def run(self, requests: Iterable[ChatRequest]) -> list[ChatResult]:
        """Blocking helper: all results, in request order."""
        ...

    async def aclose(self) -> None:
        """Close the backends' clients and the response cache."""
        ...
