"""How commands end on a problem the user can fix: one line per problem on stderr, a non-zero exit,
no traceback. `pmc-instruct --debug ...` (or PMC_INSTRUCT_DEBUG=1) prints the traceback as well.
Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator

import typer

USAGE = 2  # the options or the input cannot work (nothing was started)
FAILED = 1  # the run started and stopped on a problem it names
INTERRUPTED = 130  # Ctrl-C / SIGTERM / a Prefect cancellation

RESUME_HINT = "finished shards are kept: rerun the same command to resume"


def debug_enabled() -> bool:
    return os.environ.get("PMC_INSTRUCT_DEBUG", "").lower() in ("1", "true", "yes")


def set_debug(on: bool) -> None:
    if on:
        os.environ["PMC_INSTRUCT_DEBUG"] = "1"


def fail(lines: list[str] | str, code: int = USAGE, exc: BaseException | None = None) -> typer.Exit:
    """Print `error: <line>` for each line (plus the traceback under --debug); return the Exit to raise."""
    if exc is not None and debug_enabled():
        traceback.print_exception(exc)
    for line in [lines] if isinstance(lines, str) else lines:
        sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def _user_error_types() -> tuple[type[BaseException], ...]:
    from flows.server import ServerStartFailed
    from pipeline.ingest import InputFolderError
    from pipeline.io.layout import LayoutMismatch
    from pipeline.io.lock import OutputBusy

    return (InputFolderError, LayoutMismatch, OutputBusy, ServerStartFailed)


def _is_termination(exc: BaseException) -> bool:
    return type(exc).__name__ == "TerminationSignal"  # prefect.exceptions; not imported for one check


@contextlib.contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Turn the problems a user can fix, and interruptions, into one line and an exit code."""
    from pipeline.io.atomic import WriteFailed
    from pipeline.preflight import PreflightFailed

    try:
        yield
    except PreflightFailed as exc:
        raise fail([p.message for p in exc.problems], USAGE, exc) from None
    except _user_error_types() as exc:
        raise fail(f"{what}: {exc}", FAILED, exc) from None
    except WriteFailed as exc:  # e.g. a full disk: finished shards stay valid
        raise fail(f"{what}: {exc}; {RESUME_HINT} once there is room", FAILED, exc) from None
    except KeyboardInterrupt as exc:
        raise fail(f"{what} interrupted (Ctrl-C); {RESUME_HINT}", INTERRUPTED, exc) from None
    except BaseException as exc:
        if _is_termination(exc):
            raise fail(f"{what} stopped (SIGTERM); {RESUME_HINT}", INTERRUPTED, exc) from None
        raise
