"""How a CLI build stops: promptly, with one line saying why, and with nothing left running.

Ctrl-C and SIGTERM first ask every engine to drop its model work (pipeline.engine.shutdown), then
unwind the flow as usual (KeyboardInterrupt; SIGTERM through Prefect's own handler), so Prefect
records the run as crashed and the Prefect server is stopped after it. Whatever asked for the stop
(a signal, a cancellation in Prefect, a lost API), a deadline thread ends the process if unwinding
takes longer than GRACE_S: it stops our Prefect server's process group and exits, so a client
retrying a dead API, or a library ignoring the interrupt, can never keep a stopped build alive.
A second Ctrl-C or SIGTERM ends it at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

from pipeline.engine.shutdown import request_stop, stop_requested

GRACE_S = 2.0  # with our own server: it is stopped and we exit within ~5 s of the request in all
EXTERNAL_GRACE_S = 10.0  # a server the user runs outlives us: give the run time to report its state
RESUME_HINT = "finished shards are kept: rerun the same command to resume"

_reason: list[tuple[str, int]] = []  # (what stopped the build, exit code), first one wins
_cleanup: list[Callable[[], None]] = []  # run before a forced exit (stop our Prefect server)
_told: list[bool] = []  # the user has been given the stop's one line already


class Terminated(BaseException):
    """SIGTERM reached the CLI outside Prefect's handler."""


def stop(reason: str, code: int) -> None:
    """Record why the build is stopping and ask the engines to drop their work."""
    if not _reason:
        _reason.append((reason, code))
    request_stop()


def reason() -> tuple[str, int] | None:
    return _reason[0] if _reason else None


def told() -> None:
    """The one line about the stop has been printed (a forced exit will not repeat it)."""
    _told.append(True)


def on_forced_exit(callback: Callable[[], None]) -> None:
    _cleanup.append(callback)


def forced_exit() -> None:
    """End the process now: one line, our Prefect server stopped, exit code of the first reason."""
    # No reason recorded: Prefect's own SIGTERM handler took the signal (during a flow run).
    why, code = reason() or ("build stopped (SIGTERM)", 143)
    if not _told:
        sys.stderr.write(f"\nerror: {why}; {RESUME_HINT}\n")
        sys.stderr.flush()
    for callback in _cleanup:
        try:
            callback()
        except Exception:  # noqa: BLE001 - exiting regardless
            pass
    sys.stdout.flush()
    os._exit(code)


_seen: list[int] = []  # signals this handler took during the build


def _on_signal(signum, frame) -> None:
    _seen.append(signum)
    if signum == signal.SIGINT:
        stop("build interrupted (Ctrl-C)", 130)
    else:
        stop("build stopped (SIGTERM)", 143)
    if _seen.count(signum) > 1:  # asked twice: no more waiting
        forced_exit()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated()


class StopDeadline(threading.Thread):
    """Once a stop is requested, give the build `grace_s` to unwind, then force the exit."""

    def __init__(self, grace_s: float) -> None:
        super().__init__(name="stop-deadline", daemon=True)
        self.grace_s = grace_s
        self._done = threading.Event()

    def run(self) -> None:
        while not stop_requested():
            if self._done.wait(0.1):
                return
        if not self._done.wait(self.grace_s):
            forced_exit()

    def cancel(self) -> None:
        self._done.set()


def install(grace_s: float) -> StopDeadline:
    """For the length of a CLI build: signal handlers and the deadline thread."""
    _reason.clear()
    _seen.clear()
    _told.clear()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    deadline = StopDeadline(grace_s)
    deadline.start()
    return deadline


def uninstall(deadline: StopDeadline) -> None:
    """Leave the deadline armed if a stop is under way (cleanup may still hang); else disarm it."""
    if not stop_requested():
        deadline.cancel()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not stop_requested():
        _cleanup.clear()
