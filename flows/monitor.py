"""Watching a build-dataset run from inside its flow process:

- progress: every PROGRESS_EVERY_S one plain line per running stage goes to the flow run's log (so to
  the console of a non-interactive run, the Prefect UI and the JSON log), and a Prefect progress
  artifact holds the share of the stages done. While the CLI's live table is on screen, the lines
  go to Prefect only (flows/live.py filters them from the console);
- cancellation: a run cancelled in Prefect (UI, `prefect flow-run cancel`) is stopped here when no
  Prefect runner supervises it (a plain `pmc-instruct build`): its model work is abandoned and the
  flow unwinds as on SIGTERM. Under `serve` or a worker, Prefect's runner does the same itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

from pipeline.build import progress

PROGRESS_EVERY_S = float(os.environ.get("PMC_INSTRUCT_PROGRESS_EVERY_S", "8"))  # lines never 10 s apart
CANCEL_CHECK_EVERY_S = 2.0
PROGRESS_LOGGER = "pmc_instruct.progress"
_cancelled = threading.Event()
_last_run_id = None  # the flow run monitor_run watched last (for mark_cancelled)


def cancelled_in_prefect() -> bool:
    """True once this process stopped its run because Prefect asked it to."""
    return _cancelled.is_set()


class RunMonitor(threading.Thread):
    def __init__(self, tracker: progress.BuildProgress, run_id, logger: logging.LoggerAdapter | logging.Logger,
                 supervised: bool) -> None:
        super().__init__(name="build-monitor", daemon=True)
        self.tracker, self.run_id, self.log, self.supervised = tracker, run_id, logger, supervised
        self._done = threading.Event()
        self._artifact_id = None
        # the flow run's context (made in the flow): the progress artifact belongs to the run
        self._context = contextvars.copy_context()

    def run(self) -> None:
        self._context.run(self._watch)

    def _watch(self) -> None:
        client = None
        if self.run_id is not None and not self.supervised:
            with contextlib.suppress(Exception):
                from prefect.client.orchestration import get_client

                client = get_client(sync_client=True)
                client.__enter__()
        now = time.monotonic()
        next_progress, next_check = now + PROGRESS_EVERY_S, now + CANCEL_CHECK_EVERY_S
        try:
            while True:
                due = min(next_progress, next_check) if client is not None else next_progress
                if self._done.wait(max(0.05, due - time.monotonic())):
                    return
                now = time.monotonic()
                if client is not None and now >= next_check:
                    next_check = now + CANCEL_CHECK_EVERY_S
                    if self._cancel_requested(client):
                        self._stop_for_cancellation()
                        return
                if now >= next_progress:  # on the wall clock: a busy machine must not stretch the gaps
                    next_progress = max(next_progress + PROGRESS_EVERY_S, now + 1.0)
                    self.report()
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.__exit__(None, None, None)

    def _cancel_requested(self, client) -> bool:
        try:
            state = client.read_flow_run(self.run_id).state
        except Exception:  # noqa: BLE001 - an unreachable API is flows/server.py's watchdog's business
            return False
        return state is not None and (state.is_cancelling() or state.is_cancelled())

    def _stop_for_cancellation(self) -> None:
        from flows import stopping

        self.log.warning("flow run cancelled in Prefect: abandoning model work and stopping the build")
        _cancelled.set()
        stopping.stop("build cancelled in Prefect", 130)
        os.kill(os.getpid(), signal.SIGTERM)  # unwinds the flow as a SIGTERM does

    def report(self) -> None:
        """One line per running stage; the progress artifact follows."""
        for view in self.tracker.snapshot():
            if view.state == "running":
                self.log.info("progress %s", view.line(), extra={"progress": True})
        self._artifact(self.tracker.overall_fraction())

    def _artifact(self, fraction: float) -> None:
        if self.run_id is None:
            return
        try:
            from prefect.artifacts import create_progress_artifact, update_progress_artifact

            if self._artifact_id is None:
                self._artifact_id = create_progress_artifact(
                    progress=round(100 * fraction, 1), description="share of the build's stages done")
            else:
                update_progress_artifact(self._artifact_id, progress=round(100 * fraction, 1))
        except Exception:  # noqa: BLE001 - progress display must never break the run
            pass

    def stop(self) -> None:
        self._done.set()


@contextlib.contextmanager
def monitor_run(logger) -> Iterator[progress.BuildProgress]:
    """Track this run's progress (pipeline.build.progress) and watch it, for the length of the flow."""
    from prefect.context import FlowRunContext

    global _last_run_id
    tracker = progress.start_tracking()
    run = getattr(FlowRunContext.get(), "flow_run", None)
    run_id = _last_run_id = getattr(run, "id", None)
    supervised = getattr(run, "deployment_id", None) is not None  # a runner enforces cancellation itself
    _cancelled.clear()
    monitor = RunMonitor(tracker, run_id, logger, supervised)
    monitor.start()
    previous = _stop_engines_first_on_sigterm()
    try:
        yield tracker
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        monitor.stop()
        progress.stop_tracking(tracker)
        with contextlib.suppress(Exception):
            monitor._artifact(1.0 if all(v.state == "done" for v in tracker.snapshot()) else tracker.overall_fraction())


def _stop_engines_first_on_sigterm():
    """Put a step before Prefect's SIGTERM handler (installed for the flow run): tell the engines to drop
    their work at once, then let Prefect unwind the flow. Returns the handler to restore."""
    if threading.current_thread() is not threading.main_thread():
        return None
    from flows import stopping

    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        stopping.stop("build stopped (SIGTERM)", 143)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)
    return previous


def mark_cancelled() -> None:
    """After a run cancelled in Prefect unwound (it reported Crashed), record it as Cancelled."""
    run_id = _last_run_id
    if run_id is None:
        return
    try:
        from prefect.client.orchestration import get_client
        from prefect.states import Cancelled

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run_id, Cancelled(message="cancelled in Prefect; stopped by pmc-instruct"),
                                      force=True)
    except Exception:  # noqa: BLE001 - the message to the user matters more than the final state
        pass
