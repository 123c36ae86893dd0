"""The CLI's live progress table (rich), shown while a build runs in a terminal.

In a terminal the table replaces the flow's info lines on screen (they still reach the Prefect run
and the JSON log): one row per stage with figures and calls done out of total, tokens per second,
rejects so far, elapsed time and an ETA. Not in a terminal (a log file, CI) nothing is drawn: the
flow logs the same figures as one plain line per running stage every 8 s (flows/monitor.py).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipeline.build import progress

REFRESH_PER_S = 2


def table(views: list[progress.StageView], elapsed: float) -> Table:
    out = Table(title=f"pmc-instruct build: {progress.duration(elapsed)}", title_justify="left",
                expand=False, pad_edge=False)
    for col in ("stage", "figures", "calls", "tok/s", "rejects", "time", "ETA"):
        out.add_column(col, justify="left" if col == "stage" else "right", no_wrap=True)
    for v in views:
        figures = f"{v.figures_done}/{v.figures_total}" if v.kind == "stage" else "-"
        calls = f"{v.calls_done}/{v.calls_total}" if v.calls_total else "-"
        eta = "done" if v.state == "done" else progress.duration(v.eta_s)
        out.add_row(v.name, figures, calls, f"{v.tokens_per_s:.1f}" if v.tokens_per_s else "-", str(v.rejects),
                    progress.duration(v.seconds), eta, style="dim" if v.state == "done" else None)
    return out


class _Quiet(logging.Filter):
    """On screen during the live table: warnings and errors only, and no progress lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and not getattr(record, "progress", False)


def _console_handlers() -> list[logging.Handler]:
    found = []
    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", ()):
            stream = getattr(handler, "stream", None)
            if stream in (sys.stderr, sys.stdout) or type(handler).__name__ == "PrefectConsoleHandler":
                found.append(handler)
    return found


@contextlib.contextmanager
def live_progress(enabled: bool | None = None) -> Iterator[None]:
    """Draw the table while the block runs, when stderr is a terminal (or `enabled`)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield
        return
    import time

    start = time.monotonic()
    console = Console(stderr=True)

    def render() -> Table:
        return table(progress.current().snapshot(), time.monotonic() - start)

    quiet = _Quiet()
    handlers = _console_handlers()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        with Live(get_renderable=render, console=console, refresh_per_second=REFRESH_PER_S,
                  redirect_stdout=False, redirect_stderr=False, transient=False):
            yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
