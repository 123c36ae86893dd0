"""The real-article test data in ../shared/data (PMC_INSTRUCT_SHARED_DATA overrides the path).

Our own sample in data/ runs every path; the shared articles add real-article coverage on top.
When they are absent a test that needs them skips with a reason (a whole module skips once), and
under CI=true their absence is a failure, not a skip."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PMC_INSTRUCT_SHARED_DATA", REPO.parent / "shared" / "data"))
HOW = "see README 'Development' for where the real-article data goes"


def _absent(path: Path) -> str:
    reason = f"shared test data folder {path} is absent ({HOW})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true this is a failure, not a skip", pytrace=False)
    return reason


def require_shared(sub: str, module: bool = False) -> Path:
    """<shared>/<sub>, or skip the test (the whole module with module=True) with a reason."""
    path = SHARED_DATA / sub
    if not path.is_dir():
        reason = _absent(path)
        if module:  # name the module: pytest reports a module-level skip at this line, not the caller's
            reason = f"{sys._getframe(1).f_globals.get('__name__', '?')}: every test skipped: {reason}"
        pytest.skip(reason, allow_module_level=module)
    return path


def optional_shared(sub: str) -> Path | None:
    """<shared>/<sub> when present; None when absent (outside CI), for tests that run on our own
    sample either way and add the real articles when they are there."""
    path = SHARED_DATA / sub
    if path.is_dir():
        return path
    _absent(path)
    return None
