"""Run shard stages as a pipeline: a (stage, shard) pair starts as soon as the stages it reads have
finished *that shard*, never waiting for every shard of an earlier stage.

A stage depends on the earlier stages whose output table it reads (`input_tables`), so summary and
perception run side by side, knowledge follows summary, each QA task follows the three, and each
de-leak task follows its QA task. At most `max_in_flight` pairs run at once (memory stays that of
a few shards, and the engine's slot pools give back-pressure beyond that); among ready pairs the
lowest shard goes first, so shards finish one after another instead of all at the end.

The runner is independent of who executes a pair: `submit` returns any future with
`add_done_callback` (concurrent.futures, Prefect futures on the thread or Dask runner) and
`result` turns it into the outcome. `check` settles pairs that are already current (their marker
matches) in the calling thread, without a submission: it returns their outcome, or None to run. When a pair fails, nothing new
starts; the pairs already running finish (their work is kept) and then the error is raised.
"""

from __future__ import annotations

import heapq
import queue
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.engine.shutdown import ShuttingDown, stop_requested
from pipeline.stages.base import Stage

Pair = tuple[int, int]  # (stage index, shard index)


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
    ) -> list[list[Any]]:
        """Outcomes per stage, in shard order. `on_outcome` sees each pair's outcome as it lands
        (the outcome gets `queued_at`, the time its pair was submitted); `on_stage_done` sees
        a stage's outcomes once all its shards are done."""
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
        if not n_shards and on_stage_done:  # nothing to run: every stage is done, with no outcomes
            for i in range(len(self.stages)):
                on_stage_done(i, [])

        def done(pair: Pair, outcome: Any) -> None:
            i, s = pair
            outcomes[i][s] = outcome
            if on_outcome:
                on_outcome(self.stages[i], self.shards[s], outcome)
            left[i] -= 1
            if left[i] == 0 and on_stage_done:
                on_stage_done(i, outcomes[i])
            for k in self.dependents[i]:
                waiting[(k, s)] -= 1
                if waiting[(k, s)] == 0:
                    heapq.heappush(ready, (s, k))

        while ready or running:
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
                break
            while True:  # a timeout keeps the wait interruptible (Ctrl-C) on every platform
                try:
                    future = finished.get(timeout=0.5)
                    break
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
