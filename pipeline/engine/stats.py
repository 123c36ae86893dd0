"""Engine-level counters, exposed for the flow to log."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pydantic import BaseModel

# A second counter for the calls made in the current context (one shard's engine.run): shards share
# one engine concurrently, so a before/after difference of the engine's totals would mix them up.
_ALSO: ContextVar[StatsCounter | None] = ContextVar("pmc_instruct_call_counter", default=None)


class EngineStats(BaseModel):
    requests: int = 0  # results asked for
    model_calls: int = 0  # HTTP calls or embedded generations actually made (repairs included)
    cache_hits: int = 0
    deduplicated: int = 0  # requests answered by an identical request in the same submission
    retries: int = 0  # transport attempts beyond the first
    repairs: int = 0  # one-shot repair calls after an invalid structured answer
    errors: int = 0  # error results returned
    tokens_in: int = 0
    tokens_out: int = 0
    batches: int = 0  # embedded generate() calls


class StatsCounter:
    """Thread-safe accumulator behind EngineStats (embedded work runs in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = EngineStats()

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._stats, name, getattr(self._stats, name) + delta)
        also = _ALSO.get()
        if also is not None and also is not self:
            also.add(**deltas)

    def snapshot(self) -> EngineStats:
        with self._lock:
            return self._stats.model_copy()


@contextmanager
def counting_into(counter: StatsCounter) -> Iterator[StatsCounter]:
    """Every StatsCounter.add made in this context (and the tasks and threads it starts, which copy
    the context) is also added to `counter`."""
    token = _ALSO.set(counter)
    try:
        yield counter
    finally:
        _ALSO.reset(token)
