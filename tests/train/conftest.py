"""Session fixtures: the fixture export, the offline tokenizer and a tiny model (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_fixtures import export_dir, fixture_export_dir, offline_tokenizer, tiny_model_dir


@pytest.fixture(scope="session")
def internvl_export(tmp_path_factory) -> Path:
    """The generated fixture, or a real export named by PMC_INSTRUCT_EXPORT."""
    return export_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def fixture_export(tmp_path_factory) -> Path:
    """Always the generated fixture (tests that check its known content)."""
    return fixture_export_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def offline_tok():
    return offline_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.getbasetemp())
