from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from qa_upstream import build_upstream  # noqa: E402


@pytest.fixture(scope="session")
def upstream(tmp_path_factory, compound_figures) -> Path:
    out = tmp_path_factory.mktemp("upstream")
    build_upstream(out, compound_figures)
    return out


@pytest.fixture(scope="session")
def unlettered_upstream(tmp_path_factory, compound_figures) -> Path:
    """The same figures, but no panel carries a printed or supplied letter."""
    out = tmp_path_factory.mktemp("upstream-unlettered")
    build_upstream(out, compound_figures, lettered=False)
    return out
