"""`ordered_map`: map a function over items on a few threads, yielding results in input order.

Ingest parses files one after another into shards, but most of a file's time is image decoding,
panel-letter OCR (onnxruntime) and numpy work, which release the GIL: parsing the next few files on
other threads while the current one is written uses every core. At most `workers * AHEAD` results
wait at a time, so memory holds a few parsed files, not the corpus.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
AHEAD = 2  # results started per worker beyond the one being consumed


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """fn(item) for each item, in order. workers <= 1 runs inline (no thread). An exception from fn
    is raised where its result would have been yielded; when the consumer stops early, work not
    started is cancelled and running calls finish on their own."""
    if workers <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-parse")
    pending: deque[Future[R]] = deque()
    source = iter(items)
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
