from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.deleak import LeakageScorer  # noqa: E402


@pytest.fixture(scope="session")
def scorer() -> LeakageScorer:
    """The real MiniLM scorer; the model loads once per process (pipeline.embeddings)."""
    s = LeakageScorer()
    s.score("warm up", "warm up")
    return s
