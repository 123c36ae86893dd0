"""Engine-level counters, exposed for the flow to log. `observe_stats` lets a caller see the counters
its own calls move as they move (live progress), without touching the engine's totals."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar

from pydantic import BaseModel

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


# Observers of the calls made in the current caller context, innermost last. The engine's event loop
# runs in the caller's thread (asyncio.run and asyncio.to_thread carry the context along), so each
# shard's calls reach its own observers: a per-shard counter (shards share one engine concurrently,
# so a before/after difference of the engine's totals would mix them up) and live progress.
_observers: ContextVar[tuple[Callable[[dict[str, int]], None], ...]] = ContextVar("engine_stats_observers", default=())


@contextlib.contextmanager
def observe_stats(callback: Callable[[dict[str, int]], None]) -> Iterator[None]:
    """Call `callback(deltas)` for every counter change made by engine calls in this context (and
    the tasks and threads it starts, which copy the context), beside any outer observer."""
    token = _observers.set((*_observers.get(), callback))
    try:
        yield
    finally:
        _observers.reset(token)


class StatsCounter:
    """Thread-safe accumulator behind EngineStats (embedded work runs in worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = EngineStats()

    def add(self, **deltas: int) -> None:
        self._apply(deltas)
        for observer in _observers.get():
            observer(deltas)

    def _apply(self, deltas: dict[str, int]) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._stats, name, getattr(self._stats, name) + delta)

    def snapshot(self) -> EngineStats:
        with self._lock:
            return self._stats.model_copy()


@contextlib.contextmanager
def counting_into(counter: StatsCounter) -> Iterator[StatsCounter]:
    """Every StatsCounter.add made in this context is also added to `counter` (which tells no one)."""
    with observe_stats(counter._apply):
        yield counter
