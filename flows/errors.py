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

from flows import stopping

USAGE = 2  # the options or the input cannot work (nothing was started)
FAILED = 1  # the run started and stopped on a problem it names
INTERRUPTED = 130  # Ctrl-C or a Prefect cancellation
TERMINATED = 143  # SIGTERM

RESUME_HINT = stopping.RESUME_HINT


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
    stopping.told()
    return typer.Exit(code)


class CancelledInPrefect(BaseException):
    """The run was cancelled in Prefect (UI or API) and stopped."""


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
    from pipeline.build.preflight import PreflightFailed

    try:
        yield
    except PreflightFailed as exc:
        raise fail([p.message for p in exc.problems], USAGE, exc) from None
    except _user_error_types() as exc:
        raise fail(f"{what} failed: {exc}", FAILED, exc) from None
    except WriteFailed as exc:  # e.g. a full disk: finished shards stay valid
        raise fail(f"{what} failed: {exc}; {RESUME_HINT} once there is room", FAILED, exc) from None
    except CancelledInPrefect as exc:
        raise fail(f"{what} cancelled in Prefect; {RESUME_HINT}", INTERRUPTED, exc) from None
    except KeyboardInterrupt as exc:
        why, code = stopping.reason() or (f"{what} interrupted (Ctrl-C)", INTERRUPTED)
        raise fail(f"{why}; {RESUME_HINT}", code, exc) from None
    except BaseException as exc:
        if isinstance(exc, stopping.Terminated) or _is_termination(exc):
            why, code = stopping.reason() or (f"{what} stopped (SIGTERM)", TERMINATED)
            raise fail(f"{why}; {RESUME_HINT}", code, exc) from None
        raise


def refuse_unless_build_output(out_dir) -> None:
    """`stats`/`report` read (and write into) a build's output folder: refuse any other folder."""
    from pipeline.io.layout import LayoutMismatch, MARKER_NAME, read_marker

    if not out_dir.is_dir():
        raise fail(f"{out_dir} does not exist or is not a folder; give the --out folder of a build")
    try:
        marker = read_marker(out_dir)
    except LayoutMismatch as exc:
        raise fail(str(exc), exc=exc) from None
    if marker is None:
        raise fail(f"{out_dir} is not a pmc-instruct build output (no {MARKER_NAME}); give the --out folder of a build")
