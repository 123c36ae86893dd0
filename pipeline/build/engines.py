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
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

from pipeline.build.config import BuildConfig
from pipeline.engine.backend import Backend
from pipeline.engine.factory import build_engine
from pipeline.engine.stats import EngineStats
from pipeline.engine.types import ChatRequest, ChatResult, Engine


def add_counts(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}


def _delta(before: EngineStats, after: EngineStats) -> dict[str, int]:
    old = before.model_dump()
    return {k: v - old.get(k, 0) for k, v in after.model_dump().items()}


class _EngineView:
    """An Engine that passes what it does not change on to the engine it wraps."""

    inner: Engine

    @property
    def backends(self) -> Mapping[str, Backend | None]:
        return self.inner.backends

    @property
    def stats(self) -> EngineStats:
        return self.inner.stats

    def stream(self, requests: Iterable[ChatRequest]) -> AsyncIterator[ChatResult]:
        return self.inner.stream(requests)


class SharedEngine(_EngineView):
    """One engine for the whole build, safe to call from Prefect's worker threads: calls are
    serialised because the engine already fans a shard's requests out internally (and an embedded
    model gains nothing from two shards generating at once on the same cores)."""

    def __init__(self, engine: Engine) -> None:
        self.inner = engine
        self._lock = threading.Lock()

    def run(self, requests: Iterable[ChatRequest]) -> list[ChatResult]:
        with self._lock:
            return self.inner.run(requests)

    def run_counted(self, requests: Iterable[ChatRequest]) -> tuple[list[ChatResult], dict[str, int]]:
        """Results plus the engine counters this one call moved (exact: calls are serialised)."""
        with self._lock:
            before = self.inner.stats
            results = self.inner.run(requests)
            return results, _delta(before, self.inner.stats)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def close(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.aclose())
        else:  # inside a running loop (an async caller): close on a private loop in a thread
            worker = threading.Thread(target=lambda: asyncio.run(self.aclose()))
            worker.start()
            worker.join()


def shared(engine: Engine) -> SharedEngine:
    return engine if isinstance(engine, SharedEngine) else SharedEngine(engine)


class CountingEngine(_EngineView):
    """A view over a shared engine that adds up the EngineStats of the calls made through it, so a
    shard or a step can report its own model calls, cache hits, retries and tokens. It does not own
    the engine: closing the view leaves the engine open."""

    def __init__(self, engine: Engine) -> None:
        self.inner: SharedEngine = shared(engine)
        self.counts: dict[str, int] = {}

    def run(self, requests: Iterable[ChatRequest]) -> list[ChatResult]:
        results, delta = self.inner.run_counted(requests)
        self.counts = add_counts(self.counts, delta)
        return results

    async def aclose(self) -> None:
        return None


def open_engine(config: BuildConfig) -> SharedEngine:
    return SharedEngine(build_engine(config.engine, cache_folder(config), no_cache=config.no_cache))


def cache_folder(config: BuildConfig) -> Path:
    return Path(config.cache_dir) if config.cache_dir else Path(config.out_dir) / "cache"


# One engine per process and engine key, built on first use. Engines stay open for the life of the
# process (HTTP clients are per event loop, the SQLite cache is WAL and safe across processes);
# close_engines() closes them, and runs at interpreter exit.
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
