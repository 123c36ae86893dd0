"""Keep a long build's resident memory flat: freed memory goes back to the system.

A build allocates and frees large blocks all the time (decoded images, crops, request bodies, the
embedding model's activations, whose shapes change from batch to batch). glibc's malloc raises its
mmap threshold each time such a block is freed, up to 32 MiB, so later large blocks come from the
heap arenas instead, and free pages left between live ones there are not given back: resident
memory climbed with corpus size (the CLI process went from 2.3 GB at 1k figures to 5.0 GB at 10k,
bench/build.py). Pinning the threshold at 128 KiB keeps large blocks in their own mappings, which
are returned the moment they are freed; `trim()` hands back what the arenas hold free.

It is for the flow process only. Measured on 600 figures (bench/build.py, L=0.3 s): peak RSS of the
CLI process 1.20 GB pinned at 128 KiB (1.19 GB at 1 MiB, 1.66 GB with periodic trims alone, 2.42 GB
untuned), for about 5 % more CPU and 10 % more wall time. Ingest's worker processes stay flat
without it, and there it made panel OCR 1.8x slower.

Linux with glibc only; elsewhere both are no-ops. PMC_INSTRUCT_MALLOC_TUNING=0 turns it off.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from functools import cache

M_MMAP_THRESHOLD = -3  # mallopt parameter numbers from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value; fixing it turns the dynamic raise off
TRIM_EVERY_S = 10.0


@cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or os.environ.get("PMC_INSTRUCT_MALLOC_TUNING", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - musl and others lack them
    except (OSError, AttributeError):
        return None
    return libc


def return_freed_memory() -> bool:
    """Pin malloc's mmap threshold in this process (call it early: it shapes later allocations).
    True when it took effect."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


def trim() -> None:
    """Give the free pages malloc still holds back to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class PeriodicTrim:
    """`trim()` every `every_s` seconds on a daemon thread while the context is open."""

    def __init__(self, every_s: float = TRIM_EVERY_S) -> None:
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeriodicTrim:
        if _libc() is not None:
            self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            trim()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
