"""Stopping model work when the process is going away.

Stages call the engine from worker threads (Prefect's thread runner). On SIGTERM or Ctrl-C the main
thread unwinds, but Python then waits for those threads, and a thread inside a long `generate` or
a shard's worth of HTTP calls would keep a cancelled run alive for minutes. The engine therefore
checks `stop_requested()`: true once the main thread has finished (the interpreter is shutting
down) or after `request_stop()`. It then abandons the work in flight and raises ShuttingDown, so
the shard writes nothing and a rerun does it again; no half-generated answer is kept or cached.
"""

from __future__ import annotations

import threading

_stop = threading.Event()


class ShuttingDown(RuntimeError):
    """Model work was abandoned because the process is stopping; nothing was written for it."""


def stop_requested() -> bool:
    return _stop.is_set() or not threading.main_thread().is_alive()


def request_stop() -> None:
    """Ask every engine in this process to abandon its work (e.g. from a signal handler)."""
    _stop.set()


def clear_stop() -> None:
    _stop.clear()
