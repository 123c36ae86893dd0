"""One writer per output folder.

A build (or a standalone ingest) holds an exclusive lock on `<out>/_state/writer.lock` while it runs,
so an hourly rebuild that fires while the last one is still going, or a second terminal pointed at
the same --out, stops at once with a message naming the holder instead of racing it shard by shard.
The lock is an flock(2) on an open file: the kernel drops it when the holder exits, even on SIGKILL,
so a crash never leaves a stale lock behind.

Holding the lock also makes it safe to sweep temp files that a killed writer left beside its targets
(atomic writes go through `.<name>.<random>.tmp` siblings): no live writer can own one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.io.layout import check_layout

log = logging.getLogger(__name__)

LOCK_NAME = "writer.lock"
# Temp siblings made by pipeline.io.atomic (mkstemp: 8 random [a-z0-9_]) and pipeline.build.versions (a pid).
_TEMP_RE = re.compile(r"^\..+\.(?:[a-z0-9_]{8}|\d+)\.tmp$")


class OutputBusy(RuntimeError):
    """Another process is writing to this output folder."""


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return f"{info.get('purpose', 'a writer')} (pid {info.get('pid')} on {info.get('host')}, since {started})"


def sweep_temp_files(out: Path) -> int:
    """Remove temp files left by killed writers under `out`. Only call while holding the lock."""
    removed = 0
    for folder, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # e.g. .prefect: not ours to clean
        for name in files:
            if _TEMP_RE.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    if removed:
        log.info("removed %d temp file(s) left in %s by an interrupted run", removed, out)
    return removed


@contextlib.contextmanager
def exclusive_output(out: Path, purpose: str) -> Iterator[None]:
    """Hold the output folder's writer lock for the block; raise OutputBusy if someone else has it
    (and LayoutMismatch, before creating anything, if the folder belongs to another schema version)."""
    check_layout(out)
    state = Path(out) / "_state"
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(state / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusy(
                f"{out} is being written by {_holder(fd)}; wait for it to finish or use another output folder"
            ) from None
        info = {"purpose": purpose, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        sweep_temp_files(out)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
