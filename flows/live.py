"""Placeholder: replaced by the live progress display."""
import contextlib


@contextlib.contextmanager
def live_progress():
    yield
