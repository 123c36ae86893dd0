"""Sentence embeddings from an OpenAI-compatible /embeddings endpoint (e.g. `vllm serve
sentence-transformers/all-MiniLM-L6-v2 --task embed`), so a build's de-leak scoring runs on the
GPU servers rather than on this machine's CPU.

Texts go in requests of `max_batch` inputs, at most `concurrency` in flight per process (shared by
every shard that embeds at once), each retried with tenacity like the chat engine (Retry-After
honoured, the next base URL tried on each attempt). Vectors come back L2-normalised, so a dot
product is the cosine similarity, as with the local model (pipeline.embeddings).

Any failure left after the retries, a reply of the wrong size or shape, or a vector of another
dimension than the endpoint gave before, raises EmbeddingEndpointError. After such a failure the
endpoint is not asked again for `endpoint_cooldown_s`: the caller (pipeline.deleak.leakage) falls
back to the local model at once instead of waiting out the retries of every batch.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import openai
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from pipeline.engine.openai_backend import retry_after_s
from pipeline.engine.redact import redact
from pipeline.engine.settings import ModelRole

_FATAL = (openai.BadRequestError, openai.AuthenticationError, openai.PermissionDeniedError,
          openai.NotFoundError, openai.UnprocessableEntityError)


class EmbeddingEndpointError(RuntimeError):
    """The endpoint gave no usable embeddings for a batch (after retries, or while cooling down)."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not isinstance(exc, (*_FATAL, EmbeddingEndpointError))


@dataclass
class _Runtime:
    """Per-process state: clients, the in-flight bound, the dimension seen and the cooldown.
    Never pickled (a stage travels to Dask workers; each process makes its own)."""

    slots: threading.BoundedSemaphore
    clients: dict[str, openai.OpenAI] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dim: int | None = None
    down_until: float = 0.0
    turn: int = 0


class EndpointEmbedder:
    """Callable like pipeline.embeddings.embed: list of texts -> (n, d) float32, rows of norm 1."""

    def __init__(self, role: ModelRole) -> None:
        if not role.base_urls or not role.model:
            raise ValueError("an embedding endpoint needs base_urls and a model name")
        self.role = role
        self._rt: _Runtime | None = None

    @property
    def scorer_id(self) -> str:
        """Which model scores: enters the de-leak stage's settings fingerprint."""
        return f"openai:{self.role.model}"

    def __getstate__(self) -> dict:
        return {"role": self.role}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["role"])

    def __repr__(self) -> str:
        return f"EndpointEmbedder({self.role.model!r} at {', '.join(self.role.base_urls)})"

    # -- runtime ----------------------------------------------------------------------------------
    _CREATE = threading.Lock()

    def _runtime(self) -> _Runtime:
        if self._rt is None:
            with self._CREATE:  # shards embed from several threads: one runtime, one in-flight bound
                if self._rt is None:
                    self._rt = _Runtime(threading.BoundedSemaphore(self.role.concurrency))
        return self._rt

    def _client(self, url: str) -> openai.OpenAI:
        rt = self._runtime()
        with rt.lock:
            if url not in rt.clients:
                key = self.role.resolve_api_key()
                # retries are ours (tenacity, across base URLs); the SDK's own would multiply them
                rt.clients[url] = openai.OpenAI(base_url=url, api_key=key.get_secret_value() if key else "none",
                                                timeout=self.role.timeout_s, max_retries=0)
            return rt.clients[url]

    # -- calls ------------------------------------------------------------------------------------
    def _wait(self, state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(exc)
        if asked is not None:
            return min(asked, 600.0) * (1.0 + 0.1 * random.random())
        return self._backoff(state)

    def _request(self, texts: list[str], first_url: int) -> np.ndarray:
        urls = self.role.base_urls
        attempt = [0]

        def once() -> np.ndarray:
            url = urls[(first_url + attempt[0]) % len(urls)]
            attempt[0] += 1
            reply = self._client(url).embeddings.create(model=self.role.model, input=texts)
            data = sorted(reply.data, key=lambda d: d.index)
            if len(data) != len(texts):
                raise ValueError(f"{url}: {len(data)} embeddings for {len(texts)} inputs")
            try:
                vectors = np.asarray([d.embedding for d in data], dtype=np.float32)
            except ValueError as exc:  # ragged rows
                raise EmbeddingEndpointError(f"{url}: embeddings of different lengths in one reply") from exc
            if vectors.ndim != 2 or vectors.shape[1] == 0 or not np.isfinite(vectors).all():
                raise EmbeddingEndpointError(f"{url}: reply is not a finite (n, d) matrix (shape {vectors.shape})")
            return vectors

        retrying = Retrying(stop=stop_after_attempt(self.role.max_attempts), wait=self._wait,
                            retry=retry_if_exception(_retryable), reraise=True)
        with self._runtime().slots:
            return retrying(once)

    def __call__(self, texts: list[str]) -> np.ndarray:
        rt = self._runtime()
        if not texts:
            return np.zeros((0, rt.dim or 0), dtype=np.float32)
        if time.monotonic() < rt.down_until:
            raise EmbeddingEndpointError(f"embedding endpoint {self.role.model} failed less than "
                                         f"{self.role.endpoint_cooldown_s:.0f} s ago; not asked again yet")
        size = self.role.max_batch
        chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
        with rt.lock:
            start, rt.turn = rt.turn, rt.turn + len(chunks)
        try:
            if len(chunks) == 1:
                parts = [self._request(chunks[0], start)]
            else:
                with ThreadPoolExecutor(max_workers=min(len(chunks), self.role.concurrency),
                                        thread_name_prefix="embed") as pool:
                    parts = list(pool.map(self._request, chunks, range(start, start + len(chunks))))
        except Exception as exc:  # noqa: BLE001 - every failure means the same to the caller: no vectors
            rt.down_until = time.monotonic() + self.role.endpoint_cooldown_s
            if isinstance(exc, EmbeddingEndpointError):
                raise
            raise EmbeddingEndpointError(redact(f"embedding endpoint {self.role.model}: "
                                                f"{type(exc).__name__}: {exc}")) from exc
        vectors = np.concatenate(parts)
        with rt.lock:
            if rt.dim is None:
                rt.dim = vectors.shape[1]
        if vectors.shape[1] != rt.dim:  # the server changed models under us: old and new would not compare
            rt.down_until = time.monotonic() + self.role.endpoint_cooldown_s
            raise EmbeddingEndpointError(f"embedding endpoint {self.role.model} answered {vectors.shape[1]}-d "
                                         f"vectors after {rt.dim}-d ones")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    @property
    def _backoff(self):
        return wait_exponential_jitter(initial=self.role.backoff_initial_s, max=self.role.backoff_max_s,
                                       jitter=self.role.backoff_initial_s)
