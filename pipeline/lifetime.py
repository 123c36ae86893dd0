"""`die_with_parent`: a child process that must not outlive the process that started it."""

from __future__ import annotations

import signal
import sys


def die_with_parent() -> None:
    """In the child: receive SIGTERM when its parent dies, however it dies (Linux PR_SET_PDEATHSIG;
    a no-op elsewhere). Used as a subprocess preexec_fn and as a process-pool initializer."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
