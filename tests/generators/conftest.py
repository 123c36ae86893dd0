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
