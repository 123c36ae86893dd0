"""Run shard stages as a pipeline: a (stage, shard) pair starts as soon as the stages it reads have
finished *that shard*, never waiting for every shard of an earlier stage.

A stage depends on the earlier stages whose output table it reads (`input_tables`), so summary and
perception run side by side, knowledge follows summary, each QA task follows the three, and each
de-leak task follows its QA task. At most `max_in_flight` pairs run at once (memory stays that of
a few shards, and the engine's slot pools give back-pressure beyond that); among ready pairs the
lowest shard goes first, so shards finish one after another instead of all at the end.

Shards may also arrive while the pipeline runs (a `ShardFeed`: ingest announcing each shard it has
written), so a build's first model calls start while ingest is still parsing; a stage counts as done
only once the feed is closed and all its shards are.

The runner is independent of who executes a pair: `submit` returns any future with
`add_done_callback` (concurrent.futures, Prefect futures on the thread or Dask runner) and
`result` turns it into the outcome. `check` settles pairs that are already current (their marker
matches) in the calling thread, without a submission: it returns their outcome, or None to run. When a pair fails, nothing new
starts; the pairs already running finish (their work is kept) and then the error is raised.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.engine.shutdown import ShuttingDown, stop_requested
from pipeline.stages.base import Stage

Pair = tuple[int, int]  # (stage index, shard index)
_CLOSED = object()


class ShardFeed:
    """Shard names announced from another thread; `close(error)` once no more will come. A name
    announced again (a retried ingest lists the shards it finds) is ignored."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def put(self, shard: str) -> None:
        with self._lock:
            if shard in self._seen:
                return
            self._seen.add(shard)
        self._queue.put(shard)

    def close(self, error: BaseException | None = None) -> None:
        self.error = error
        self._queue.put(_CLOSED)

    def take(self, timeout: float | None) -> list[Any]:
        """What has arrived (shard names, and _CLOSED last); waits up to `timeout` for the first."""
        items = []
        try:
            items.append(self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait())
            while True:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return items


def stage_dependencies(stages: Sequence[Stage]) -> list[list[int]]:
    """For each stage, the indices of earlier stages whose output table it reads."""
    deps = []
    for i, stage in enumerate(stages):
        reads = set(stage.input_tables)
        deps.append([j for j in range(i) if stages[j].output_table in reads])
    return deps


class ShardPipeline:
    def __init__(self, stages: Sequence[Stage], shards: Sequence[str], max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.stages, self.shards, self.max_in_flight = list(stages), list(shards), max_in_flight
        self.deps = stage_dependencies(self.stages)
        self.dependents: list[list[int]] = [[] for _ in self.stages]
        for i, ds in enumerate(self.deps):
            for j in ds:
                self.dependents[j].append(i)

    def run(
        self,
        *,
        check: Callable[[Stage, str], Any | None],
        submit: Callable[[Stage, str], Any],
        result: Callable[[Any], Any],
        on_outcome: Callable[[Stage, str, Any], None] | None = None,
        on_stage_done: Callable[[int, list[Any]], None] | None = None,
        feed: ShardFeed | None = None,
        on_shard: Callable[[str], None] | None = None,
    ) -> list[list[Any]]:
        """Outcomes per stage, in shard order. `on_outcome` sees each pair's outcome as it lands
        (the outcome gets `queued_at`, the time its pair was submitted); `on_stage_done` sees
        a stage's outcomes once all its shards are done. With a `feed`, shards it brings are added
        (`on_shard(name)` first) until it is closed; an error it is closed with is raised like a
        failed pair's, after the running pairs finish."""
        n_shards = len(self.shards)
        waiting = {(i, s): len(self.deps[i]) for i in range(len(self.stages)) for s in range(n_shards)}
        outcomes: list[list[Any]] = [[None] * n_shards for _ in self.stages]
        left = [n_shards] * len(self.stages)
        ready: list[Pair] = []  # heap ordered by (shard, stage): finish early shards first
        for (i, s), count in waiting.items():
            if count == 0:
                heapq.heappush(ready, (s, i))
        finished: queue.Queue = queue.Queue()
        running: dict[int, tuple[Pair, float, Any]] = {}
        first_error: BaseException | None = None
        closed = feed is None
        reported: set[int] = set()

        def report_done_stages() -> None:
            for i in range(len(self.stages)):
                if closed and left[i] == 0 and i not in reported:
                    reported.add(i)
                    if on_stage_done:
                        on_stage_done(i, outcomes[i])

        def add_shard(name: str) -> None:
            s = len(self.shards)
            self.shards.append(name)
            if on_shard:
                on_shard(name)
            for i in range(len(self.stages)):
                outcomes[i].append(None)
                left[i] += 1
                waiting[(i, s)] = len(self.deps[i])
                if not self.deps[i]:
                    heapq.heappush(ready, (s, i))

        def take_feed(timeout: float | None) -> None:
            nonlocal closed, first_error
            for item in feed.take(timeout):
                if item is _CLOSED:
                    closed = True
                    if feed.error is not None:
                        first_error = first_error or feed.error
                    report_done_stages()  # every pair may have finished before the close came
                else:
                    add_shard(item)

        def done(pair: Pair, outcome: Any) -> None:
            i, s = pair
            outcomes[i][s] = outcome
            if on_outcome:
                on_outcome(self.stages[i], self.shards[s], outcome)
            left[i] -= 1
            report_done_stages()
            for k in self.dependents[i]:
                waiting[(k, s)] -= 1
                if waiting[(k, s)] == 0:
                    heapq.heappush(ready, (s, k))

        report_done_stages()  # a stage with no shards at all (and no feed) is done at once
        while True:
            if not closed:
                take_feed(None)
            while ready and len(running) < self.max_in_flight and first_error is None:
                s, i = heapq.heappop(ready)
                stage, shard = self.stages[i], self.shards[s]
                if (settled := check(stage, shard)) is not None:
                    done((i, s), settled)
                    continue
                if stop_requested():
                    raise ShuttingDown("the process is stopping; no new shard is started")
                queued_at = time.time()
                future = submit(stage, shard)
                running[id(future)] = ((i, s), queued_at, future)
                future.add_done_callback(finished.put)
            if not running:
                if closed or first_error is not None:
                    break
                if stop_requested():
                    raise ShuttingDown("the process is stopping; no new shard is started")
                take_feed(0.5)  # nothing to do until the feed brings a shard
                report_done_stages()
                continue
            try:  # a timeout keeps the wait interruptible (Ctrl-C) and the feed read
                future = finished.get(timeout=0.5 if closed else 0.1)
            except queue.Empty:
                continue
            pair, queued_at, _ = running.pop(id(future))
            try:
                outcome = result(future)
            except BaseException as exc:  # noqa: BLE001 - the others finish first; raised below
                if not isinstance(exc, Exception):
                    raise
                first_error = first_error or exc
                continue
            if hasattr(outcome, "queued_at"):
                outcome.queued_at = queued_at
            done(pair, outcome)
        if first_error is not None:
            raise first_error
        return outcomes
