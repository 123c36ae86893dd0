"""Shared fixtures. Expensive things (embedded model, fake servers, Prefect) load once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PMC_INSTRUCT_SHARED_DATA", REPO.parent / "shared" / "data"))
DEMO_DATA = REPO / "data"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _shared(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.is_dir():
        reason = f"shared test data folder {path} is absent"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true this is a failure, not a skip")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_jats() -> Path:
    return _shared("jats")


@pytest.fixture(scope="session")
def shared_nxml() -> Path:
    return _shared("nxml")


@pytest.fixture(scope="session")
def shared_compound() -> Path:
    return _shared("compound-figures")


@pytest.fixture(scope="session")
def demo_data() -> Path:
    return DEMO_DATA
