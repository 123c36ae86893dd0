"""Engines for a build: one per process and engine settings, shared by the tasks of that process.

Tasks call engine_for(config) instead of receiving an engine: an engine (locks, sockets, a loaded
model) cannot be pickled to Dask worker processes, so each worker process builds its own, while the
thread runner's tasks share one. CountingEngine gives each shard or step the EngineStats of its own
calls, so counters add up correctly over any number of processes.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.engine.types import ChatResult, Engine
from pipeline.stages.runner import ShardOutcome

if TYPE_CHECKING:
    from pipeline.build import BuildConfig



class SharedEngine:
    """One engine for the whole build, safe to call from Prefect's worker threads: calls are
    serialised because the engine already fans a shard's requests out internally (and an embedded
    model gains nothing from two shards generating at once on the same cores)."""

    def __init__(self, engine: Engine) -> None:
        self.inner = engine
        self._lock = threading.Lock()

    @property
    def backends(self) -> dict[str, Any]:
        return getattr(self.inner, "backends", {})

    @property
    def stats(self) -> Any:
        return getattr(self.inner, "stats", None)

    def run(self, requests: Iterable[Any]) -> list[ChatResult]:
        with self._lock:
            return self.inner.run(requests)

    def run_counted(self, requests: Iterable[Any]) -> tuple[list[ChatResult], dict[str, int]]:
        """Results plus the engine counters this one call moved (exact: calls are serialised)."""
        with self._lock:
            before = _stats_dict(self.inner)
            results = self.inner.run(requests)
            return results, _stats_delta(before, _stats_dict(self.inner))

    def stream(self, requests: Iterable[Any]):
        return self.inner.stream(requests)

    def close(self) -> None:
        aclose = getattr(self.inner, "aclose", None)
        if aclose is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(aclose())
        else:  # inside a running loop (an async caller): close on a private loop in a thread
            worker = threading.Thread(target=lambda: asyncio.run(aclose()))
            worker.start()
            worker.join()


def open_engine(config: BuildConfig) -> SharedEngine:
    from pipeline.engine import build_engine

    return SharedEngine(build_engine(config.engine, cache_folder(config), no_cache=config.no_cache))


def cache_folder(config: BuildConfig) -> Path:
    return Path(config.cache_dir) if getattr(config, "cache_dir", None) else Path(config.out_dir) / "cache"


# One engine per process and engine key, built on first use. Tasks call engine_for(config) instead of
# receiving an engine: an engine (locks, sockets, a loaded model) cannot be pickled to Dask worker
# processes, so each worker process builds its own, while the thread runner's tasks share one.
# Engines stay open for the life of the process (HTTP clients are per event loop, the SQLite cache is
# WAL and safe across processes); close_engines() closes them, and runs at interpreter exit.
_ENGINES: dict[str, SharedEngine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_key(config: BuildConfig) -> str:
    """Engine settings (keys excluded) + cache folder + no_cache: builds that agree share an engine."""
    cache = str(cache_folder(config).resolve())
    return f"{config.engine.model_dump_json()}|{cache}|{config.no_cache}"


def engine_for(config: BuildConfig) -> SharedEngine:
    key = engine_key(config)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = open_engine(config)
        return engine


def close_engines() -> None:
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.close()


atexit.register(close_engines)


def _stats_dict(engine: Any) -> dict[str, int]:
    stats = getattr(engine, "stats", None)
    return stats.model_dump() if stats is not None else {}


def _stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}


class CountingEngine:
    """A view over an engine that adds up the EngineStats of the calls made through it, so a shard
    or a step can report its own model calls, cache hits, retries and tokens."""

    def __init__(self, engine: Any) -> None:
        self.inner = engine
        self.counts: dict[str, int] = {}

    @property
    def backends(self) -> dict[str, Any]:
        return getattr(self.inner, "backends", {})

    def run(self, requests: Iterable[Any]) -> list[ChatResult]:
        if hasattr(self.inner, "run_counted"):
            results, delta = self.inner.run_counted(requests)
        else:  # a bare engine (tests, notebooks): exact as long as nothing else uses it meanwhile
            before = _stats_dict(self.inner)
            results = self.inner.run(requests)
            delta = _stats_delta(before, _stats_dict(self.inner))
        self.counts = add_counts(self.counts, delta)
        return results

    def stream(self, requests: Iterable[Any]):
        return self.inner.stream(requests)


@dataclass
class CountedOutcome(ShardOutcome):
    """A ShardOutcome plus the engine counters of this run of the shard (empty when skipped)."""

    engine: dict[str, int] = field(default_factory=dict)
