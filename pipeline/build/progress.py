"""Live counters of the build running in this process, per stage: figures and model calls done out of
total, tokens per second, rejects so far, and an ETA. The build updates them (run_shard, run_step);
displays read `snapshot()` (the CLI's live table or periodic log lines, the Prefect progress
artifact). No Prefect here: flows/observe.py and flows/live.py do the showing.

Model calls are counted as they complete (pipeline.engine.stats.observe_stats), so a long shard
shows movement before it ends. The ETA of a stage assumes the rest goes at the pace so far.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.engine.stats import observe_stats


@dataclass
class _Stage:
    name: str
    kind: str = "stage"  # ingest | stage | step
    figures_total: int = 0
    shards_total: int = 0
    done: dict[str, tuple[int, int, bool]] = field(default_factory=dict)  # shard -> (figures, rejects, skipped)
    running: dict[str, int] = field(default_factory=dict)  # shard -> figures in it
    requests: int = 0  # model requests submitted (each answered from the cache or a call)
    answered: int = 0
    model_calls: int = 0
    tokens_out: int = 0
    rejects_running: int = 0
    started: float | None = None
    finished: float | None = None


@dataclass(frozen=True)
class StageView:
    """One stage as a display shows it."""

    name: str
    kind: str
    state: str  # running | done
    figures_done: int
    figures_total: int
    calls_done: int
    calls_total: int
    model_calls: int
    tokens_per_s: float
    rejects: int
    seconds: float
    eta_s: float | None  # None: not enough done yet to tell
    skipped_shards: int

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        if self.figures_total:
            return min(1.0, self.figures_done / self.figures_total)
        return min(1.0, self.calls_done / self.calls_total) if self.calls_total else 0.0

    def line(self) -> str:
        """One plain line, e.g. for a log: `summary: 3/8 figures, calls 12/40, 35.2 tok/s, 0 rejects, ETA 1m20s`."""
        parts = [f"{self.name}: {self.state}"]
        if self.kind == "stage":
            parts.append(f"{self.figures_done}/{self.figures_total} figures")
        if self.calls_total:
            parts.append(f"calls {self.calls_done}/{self.calls_total}")
        if self.tokens_per_s:
            parts.append(f"{self.tokens_per_s:.1f} tok/s")
        parts.append(f"{self.rejects} rejects")
        parts.append(f"{duration(self.seconds)} elapsed")
        if self.state == "running":
            parts.append(f"ETA {duration(self.eta_s) if self.eta_s is not None else '?'}")
        return ", ".join(parts)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class BuildProgress:
    """Thread-safe: shards update it from task threads while a display thread reads it."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._stages: dict[str, _Stage] = {}
        self.shard_figures: dict[str, int] = {}
        self.started = clock()

    def set_shards(self, shard_figures: dict[str, int]) -> None:
        """Figures each shard holds for this build (after ingest; --limit applied)."""
        with self._lock:
            self.shard_figures = dict(shard_figures)

    def add_shard(self, shard: str, figures: int) -> None:
        """A shard announced while the build runs (ingest still writing): every stage's totals grow."""
        with self._lock:
            self.shard_figures[shard] = figures
            for st in self._stages.values():
                if st.kind == "stage":
                    st.figures_total += figures
                    st.shards_total += 1
                    st.finished = None

    def _stage(self, name: str, kind: str = "stage") -> _Stage:
        st = self._stages.get(name)
        if st is None:
            st = self._stages[name] = _Stage(name, kind, sum(self.shard_figures.values()), len(self.shard_figures))
        if st.started is None:
            st.started = self._clock()
        return st

    def _on_stats(self, name: str, deltas: dict[str, int]) -> None:
        with self._lock:
            st = self._stages[name]
            st.requests += deltas.get("requests", 0)
            st.answered += deltas.get("cache_hits", 0) + deltas.get("deduplicated", 0) \
                + deltas.get("model_calls", 0) - deltas.get("repairs", 0)
            st.model_calls += deltas.get("model_calls", 0)
            st.tokens_out += deltas.get("tokens_out", 0)

    @contextlib.contextmanager
    def shard(self, stage: str, shard: str) -> Iterator[None]:
        """Around one shard's run: its engine calls count towards `stage` as they complete."""
        with self._lock:
            st = self._stage(stage)
            st.running[shard] = self.shard_figures.get(shard, 0)
            st.finished = None
        try:
            with observe_stats(lambda d: self._on_stats(stage, d)):
                yield
        finally:
            with self._lock:
                st.running.pop(shard, None)

    def shard_done(self, stage: str, shard: str, rejects: int, skipped: bool) -> None:
        """Idempotent: the flow may report a shard its task already reported."""
        with self._lock:
            st = self._stage(stage)
            st.done[shard] = (self.shard_figures.get(shard, 0), rejects, skipped)
            if len(st.done) >= st.shards_total and not st.running:
                st.finished = self._clock()

    @contextlib.contextmanager
    def step(self, name: str, kind: str = "step") -> Iterator[None]:
        """A whole-dataset step (ingest, finalize, report): elapsed time and its model calls."""
        with self._lock:
            st = self._stage(name, kind)
            st.finished = None
        try:
            with observe_stats(lambda d: self._on_stats(name, d)):
                yield
        finally:
            with self._lock:
                st.finished = self._clock()

    def step_rejects(self, name: str, rejects: int) -> None:
        with self._lock:
            if name in self._stages:
                self._stages[name].rejects_running = rejects

    def snapshot(self) -> list[StageView]:
        now = self._clock()
        with self._lock:
            return [self._view(st, now) for st in self._stages.values()]

    @staticmethod
    def _view(st: _Stage, now: float) -> StageView:
        end = st.finished if st.finished is not None else now
        seconds = max(0.0, end - (st.started or end))
        figures = sum(f for f, _, _ in st.done.values())
        if st.running and st.requests:  # part of the running shards, by calls answered
            figures += int(sum(st.running.values()) * min(1.0, st.answered / st.requests))
        figures = min(figures, st.figures_total)
        state = "done" if st.finished is not None else "running"
        frac = figures / st.figures_total if st.figures_total else None
        eta = None
        if state == "running" and frac and seconds > 0:
            eta = seconds * (1 - frac) / frac
        return StageView(
            name=st.name, kind=st.kind, state=state, figures_done=figures, figures_total=st.figures_total,
            calls_done=min(st.answered, st.requests), calls_total=st.requests, model_calls=st.model_calls,
            tokens_per_s=st.tokens_out / seconds if seconds > 0 else 0.0,
            rejects=sum(r for _, r, _ in st.done.values()) + st.rejects_running, seconds=seconds, eta_s=eta,
            skipped_shards=sum(1 for *_, skipped in st.done.values() if skipped))

    def overall_fraction(self) -> float:
        views = [v for v in self.snapshot() if v.kind == "stage"]
        return sum(v.fraction for v in views) / len(views) if views else 0.0


class _Idle(BuildProgress):
    """What code gets when no build is being watched in this process (e.g. a Dask worker)."""


_ACTIVE: BuildProgress | None = None


def start_tracking(clock=time.monotonic) -> BuildProgress:
    global _ACTIVE
    _ACTIVE = BuildProgress(clock)
    return _ACTIVE


def stop_tracking(progress: BuildProgress) -> None:
    global _ACTIVE
    if _ACTIVE is progress:
        _ACTIVE = None


def current() -> BuildProgress:
    """The tracked build of this process, or a throwaway tracker nobody reads."""
    return _ACTIVE if _ACTIVE is not None else _Idle()


def shard_sizes(out_dir: Path, shards: list[str], selection: dict[str, Any] | None) -> dict[str, int]:
    """Figures per shard this build processes (the --limit selection when there is one)."""
    if selection is not None:
        return {s: len(selection.get(s, ())) for s in shards}
    import pyarrow.parquet as pq

    sizes = {}
    for s in shards:
        path = Path(out_dir) / "figures" / s
        sizes[s] = pq.read_metadata(path).num_rows if path.exists() else 0
    return sizes
