"""`ordered_map`: map a function over items on a few threads or processes, yielding results in
input order.

Ingest parses files one after another into shards. Parsing the next few files elsewhere while the
current one is written uses every core: on threads for a few files (image decoding and panel-letter
OCR release the GIL), in worker processes for a corpus, because the Python parts of parsing would
otherwise share one core with the build's stages running in the same process. At most
`workers * AHEAD` results wait at a time, so memory holds a few parsed files, not the corpus.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import TypeVar

from pipeline.lifetime import die_with_parent

T = TypeVar("T")
R = TypeVar("R")
AHEAD = 2  # results started per worker beyond the one being consumed


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, processes: bool = False) -> Iterator[R]:
    """fn(item) for each item, in order. workers <= 1 runs inline (no thread). With `processes`, fn
    and the items must pickle; the workers start from a clean forkserver (never a fork of this
    threaded process) and die with it. An exception from fn is raised where its result would have
    been yielded; when the consumer stops early, work not started is cancelled and running calls
    finish on their own."""
    if workers <= 1:
        yield from map(fn, items)
        return
    if processes:
        pool: Executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"),
                                             initializer=_worker_start)
    else:
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


def _worker_start() -> None:
    """In a worker process: Ctrl-C is the build's to handle (it stops the pool), and the worker dies
    with its parent (the forkserver, which exits with the build), so a killed build leaves no parser."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    # No malloc tuning here (pipeline.heap): a worker's resident memory stays flat without it, and
    # pinning the mmap threshold made panel OCR 1.8x slower (300 figures: 47 s instead of 26 s).
