"""Honest step times when shards overlap: the wall time of a step is the length of the union of
its shards' [start, end] intervals, not their sum (ten shards running side by side for 10 s took
10 s, not 100 s). CPU seconds do add up across threads, so they are summed."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

Span = tuple[float, float]  # (start, end) in seconds since the epoch (comparable across processes)


def union_seconds(spans: Iterable[Span]) -> float:
    """Total length covered by the intervals, overlaps counted once."""
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted((float(a), float(b)) for a, b in spans if b > a):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


class Clock:
    """Wall span and this thread's CPU time of one piece of work."""

    def __init__(self) -> None:
        self.started = time.time()
        self._cpu0 = time.thread_time()
        self.ended = self.started
        self.cpu_seconds = 0.0

    def stop(self) -> Clock:
        self.ended = time.time()
        self.cpu_seconds = time.thread_time() - self._cpu0
        return self

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@contextmanager
def span(into: list[list[float]]) -> Iterator[None]:
    """Append the [start, end] of the block to `into` (e.g. the engine calls of a shard)."""
    start = time.time()
    try:
        yield
    finally:
        into.append([start, time.time()])
